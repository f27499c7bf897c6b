using System.Text.Json;
using JailShim.Runtime.Images.Registry;

namespace JailShim.Runtime.Images;

/// <summary>
/// Reads an OCI image layout (<c>oci-layout</c>, <c>index.json</c>, <c>blobs/sha256/…</c>): which
/// images it holds, each walked from its index.json entry through image indexes / manifest lists
/// to the manifest for this host's platform. Every manifest and config is checked against its
/// digest and size as it is read; layers are checked by the importer before anything is stored.
/// </summary>
internal static class OciLayoutReader
{
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    /// <summary>The full name containerd and Docker (25+) write next to the short ref name.</summary>
    public const string ContainerdNameAnnotation = "io.containerd.image.name";

    private const int MaxIndexDepth = 4;

    /// <summary>
    /// The images to import. index.json entries with the same name are one image for several
    /// platforms. Names come from the annotations, or from <paramref name="name"/>, which must then
    /// pick one image when the layout holds several.
    /// </summary>
    public static IReadOnlyList<ImportPlan> Read(ImageSource source, string? name)
    {
        if (!source.Exists("oci-layout")) throw new InvalidDataException($"{source.Description}: no oci-layout file: not an OCI image layout");
        ManifestDocument index = Parse(source, source.ReadAll("index.json"), "index.json");
        List<RegistryDescriptor> entries = index.Manifests ?? [];
        if (entries.Count == 0) throw new InvalidDataException($"{source.Description}: index.json lists no images");

        var images = entries
            .GroupBy(e => (Ref: Annotation(e, RefNameAnnotation), Full: Annotation(e, ContainerdNameAnnotation)))
            .ToList();
        if (name is not null && images.Count > 1)
        {
            var named = images.Where(g => Names(g.Key.Ref, g.Key.Full, null).Any(n => SameName(n, name))
                || g.Key.Ref == name || (IsBareTag(g.Key.Ref) && TagOf(name) == g.Key.Ref)).ToList();
            if (named.Count != 1)
                throw new InvalidDataException($"{source.Description} holds {images.Count} images ({string.Join(", ", images.Select(g => g.Key.Full ?? g.Key.Ref ?? "unnamed"))}); " +
                    $"'{name}' names {(named.Count == 0 ? "none" : "several")} of them");
            images = named;
        }
        return [.. images.Select(g => Plan(source, PickPlatform(source, [.. g]), Names(g.Key.Ref, g.Key.Full, name)))];
    }

    private static ImportPlan Plan(ImageSource source, RegistryDescriptor entry, IReadOnlyList<string> tags)
    {
        string entryDigest = CheckDigest(source, entry.Digest);
        RegistryDescriptor current = entry;
        ManifestDocument document = Parse(source, ReadVerified(source, entry), entryDigest);
        string mediaType = Classify(current, document);
        for (int depth = 0; MediaTypes.IsIndex(mediaType); depth++)
        {
            if (depth >= MaxIndexDepth) throw new InvalidDataException($"{source.Description}: image indexes nested more than {MaxIndexDepth} deep");
            current = PickPlatform(source, document.Manifests ?? []);
            document = Parse(source, ReadVerified(source, current), CheckDigest(source, current.Digest));
            mediaType = Classify(current, document);
        }
        if (!MediaTypes.IsManifest(mediaType))
            throw new InvalidDataException($"{source.Description}: {current.Digest} is a '{mediaType}', not an image manifest");

        RegistryDescriptor config = document.Config
            ?? throw new InvalidDataException($"{source.Description}: manifest {current.Digest} has no config");
        byte[] configBytes = ReadVerified(source, config);

        var layers = new List<ImportLayer>();
        foreach (RegistryDescriptor layer in document.Layers ?? [])
        {
            string digest = CheckDigest(source, layer.Digest);
            if (!MediaTypes.IsUnpackableLayer(layer.MediaType))
                throw new InvalidDataException($"{source.Description}: layer {digest} has media type '{layer.MediaType}', which this runtime does not unpack");
            layers.Add(new ImportLayer(BlobPath(digest), digest, layer.Size));
        }
        return new ImportPlan(configBytes, layers, tags, entryDigest);
    }

    /// <summary>The one entry, or the one for this host's platform among several.</summary>
    private static RegistryDescriptor PickPlatform(ImageSource source, List<RegistryDescriptor> entries)
    {
        if (entries.Count == 1 && entries[0].Platform is null) return entries[0];
        return HostPlatform.Pick(entries) ?? throw new InvalidDataException(
            $"{source.Description}: no image for {HostPlatform.Name}; it offers " +
            (entries.Count == 0 ? "nothing" : string.Join(", ", entries.Select(e => e.Platform?.ToString() ?? "(no platform)").Distinct())));
    }

    /// <summary>The names an image gets: NAME (with the layout's tag when NAME has none), else the annotations.</summary>
    private static IReadOnlyList<string> Names(string? refName, string? fullName, string? name)
    {
        if (name is not null)
            return [IsBareTag(refName) && TagOf(name) is null ? ImageReference.Parse(name).Repository + ":" + refName : name];
        if (fullName is not null) return [fullName];
        // A ref name is usually just a tag ("latest", "1.0"), which names nothing without a repository.
        if (refName is not null && !IsBareTag(refName)) return [refName];
        return [];
    }

    private static bool IsBareTag(string? refName) => refName is not null && refName.IndexOfAny(['/', ':', '@']) < 0;

    /// <summary>The tag a name spells out, or null when it gives none ("busybox" has none; "busybox:1" has "1").</summary>
    private static string? TagOf(string name)
    {
        string last = name[(name.LastIndexOf('/') + 1)..];
        int at = last.IndexOf('@');
        if (at >= 0) last = last[..at];
        int colon = last.IndexOf(':');
        return colon < 0 ? null : last[(colon + 1)..];
    }

    private static bool SameName(string a, string b) =>
        ImageReference.TryParse(a, out ImageReference? x) && ImageReference.TryParse(b, out ImageReference? y) && x.ToString() == y.ToString();

    private static string? Annotation(RegistryDescriptor d, string key) =>
        d.Annotations?.GetValueOrDefault(key) is { Length: > 0 } value ? value : null;

    private static string Classify(RegistryDescriptor descriptor, ManifestDocument document) =>
        descriptor.MediaType ?? document.MediaType ?? (document.Manifests is not null ? MediaTypes.OciIndex : MediaTypes.OciManifest);

    private static string BlobPath(string digest) => "blobs/sha256/" + Digest.Hex(digest);

    private static string CheckDigest(ImageSource source, string? digest) =>
        digest is not null && Digest.IsSha256(digest) ? digest
            : throw new InvalidDataException($"{source.Description}: descriptor digest '{digest}' is not a sha256 digest");

    /// <summary>Reads a small blob whole and checks its size and digest against the descriptor.</summary>
    private static byte[] ReadVerified(ImageSource source, RegistryDescriptor descriptor)
    {
        string digest = CheckDigest(source, descriptor.Digest);
        byte[] bytes = source.ReadAll(BlobPath(digest));
        if (bytes.Length != descriptor.Size)
            throw new InvalidDataException($"{source.Description}: blob {digest} is {bytes.Length} bytes, its descriptor says {descriptor.Size}");
        string actual = Digest.Of(bytes);
        if (actual != digest)
            throw new InvalidDataException($"{source.Description}: digest mismatch: blob {digest} has content {actual}");
        return bytes;
    }

    private static ManifestDocument Parse(ImageSource source, byte[] json, string what)
    {
        try
        {
            return JsonSerializer.Deserialize(json, RegistryJsonContext.Default.ManifestDocument)
                ?? throw new InvalidDataException($"{source.Description}: {what} is null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source.Description}: {what} is not valid JSON: {e.Message}", e);
        }
    }
}
