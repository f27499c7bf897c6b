using System.Text.Json.Serialization;

namespace JailShim.Runtime.State;

/// <summary>Source-generated JSON for the state files.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true)]
[JsonSerializable(typeof(SandboxRecord))]
[JsonSerializable(typeof(ContainerRecord))]
internal sealed partial class StateJson : JsonSerializerContext;
