using System.Text.Json;
using System.Text.Json.Nodes;

namespace JailShim.Runtime.Images;

/// <summary>
/// Reads a <c>docker save</c> archive's <c>manifest.json</c>: per image, the config file, the layer
/// tars (bottom first; plain or gzip'd) and the RepoTags. Configs and layers stored under their
/// digest (<c>&lt;hex&gt;.json</c>, <c>blobs/sha256/&lt;hex&gt;</c>) are checked against it; every layer is
/// checked against the config's diff_ids when it is imported.
/// </summary>
internal static class DockerArchiveReader
{
    public static IReadOnlyList<ImportPlan> Read(ImageSource source, string? name)
    {
        JsonArray images;
        try
        {
            images = JsonNode.Parse(source.ReadAll("manifest.json")) as JsonArray
                ?? throw new InvalidDataException($"{source.Description}: manifest.json is not a JSON array");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source.Description}: manifest.json is not valid JSON: {e.Message}", e);
        }
        if (images.Count == 0) throw new InvalidDataException($"{source.Description}: manifest.json lists no images");

        var plans = new List<ImportPlan>();
        foreach (JsonNode? node in images)
        {
            if (node is not JsonObject image || Text(image["Config"]) is not { } configPath || image["Layers"] is not JsonArray layerList)
                throw new InvalidDataException($"{source.Description}: manifest.json has an entry without Config and Layers");
            byte[] config = source.ReadAll(configPath);
            if (DigestIn(configPath) is { } configDigest && Digest.Of(config) != configDigest)
                throw new InvalidDataException($"{source.Description}: digest mismatch: {configPath} has content {Digest.Of(config)}");

            List<ImportLayer> layers = [.. layerList.Select(l => Text(l) is { } path
                ? new ImportLayer(path, DigestIn(path), null)
                : throw new InvalidDataException($"{source.Description}: manifest.json lists a layer that is not a path"))];
            List<string> tags = image["RepoTags"] is JsonArray repoTags ? [.. repoTags.Select(Text).OfType<string>()] : [];
            plans.Add(new ImportPlan(config, layers, tags, null));
        }

        if (name is null) return plans;
        // NAME renames the archive's one image, or picks the one of several that already has that name.
        if (plans.Count == 1) return [plans[0] with { Tags = [name] }];
        string wanted = ImageReference.Normalize(name);
        var named = plans.Where(p => p.Tags.Any(t => ImageReference.TryParse(t, out ImageReference? r) && r.ToString() == wanted)).ToList();
        if (named.Count != 1)
            throw new InvalidDataException($"{source.Description} holds {plans.Count} images; '{name}' names {(named.Count == 0 ? "none" : "several")} of them");
        return [named[0] with { Tags = [name] }];
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue(out string? s) && s.Length > 0 ? s : null;

    /// <summary>"blobs/sha256/&lt;hex&gt;" (Docker 25+) and "&lt;hex&gt;.json" (older configs) name their content; layer.tar paths do not.</summary>
    private static string? DigestIn(string path)
    {
        string file = Path.GetFileName(path);
        if (path.Replace("./", "").StartsWith("blobs/sha256/", StringComparison.Ordinal) && Digest.IsSha256(Digest.Sha256Prefix + file))
            return Digest.Sha256Prefix + file;
        if (file.EndsWith(".json", StringComparison.Ordinal) && Digest.IsSha256(Digest.Sha256Prefix + file[..^5]))
            return Digest.Sha256Prefix + file[..^5];
        return null;
    }
}
