using System.Text.Json.Serialization;

namespace JailShim.Runtime.Images;

/// <summary>Source-generated JSON for the store's files. Our own records are snake_case; OCI types name their fields explicitly.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(ImageRecord))]
[JsonSerializable(typeof(OciManifest))]
[JsonSerializable(typeof(OciImageConfigFile))]
internal sealed partial class ImageJsonContext : JsonSerializerContext;
