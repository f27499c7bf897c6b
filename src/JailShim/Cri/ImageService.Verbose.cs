using System.Text.Json.Nodes;
using JailShim.Runtime.Images;

namespace JailShim.Cri;

/// <summary>ImageStatus's verbose info: what the store knows of the image, and its whole OCI config (as containerd's "imageSpec").</summary>
public sealed partial class ImageService
{
    private string VerboseInfo(StoredImage image)
    {
        var info = new JsonObject
        {
            ["id"] = image.Id,
            ["repoTags"] = new JsonArray([.. image.RepoTags.Select(t => (JsonNode?)t)]),
            ["repoDigests"] = new JsonArray([.. image.RepoDigests.Select(d => (JsonNode?)d)]),
            ["manifestDigest"] = image.ManifestDigest,
            ["size"] = image.Size,
            ["layerDiffIds"] = new JsonArray([.. image.LayerDiffIds.Select(d => (JsonNode?)d)]),
            ["user"] = image.Config.User ?? "",
        };
        // The config exactly as stored: Entrypoint, Cmd, Env, WorkingDir, User, Labels, rootfs, history.
        if (_images.ReadConfig(image) is { } config && JsonNode.Parse(config) is JsonObject spec)
            info["imageSpec"] = spec;
        return info.ToJsonString();
    }
}
