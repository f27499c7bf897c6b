using System.Formats.Tar;
using System.Text;
using System.Text.Json.Nodes;

namespace JailShim.Conformance;

/// <summary>Writes a <c>docker save</c> archive the classic way: manifest.json, &lt;config-hex&gt;.json, &lt;id&gt;/layer.tar.</summary>
public static class DockerSaveArchive
{
    /// <summary>Writes the archive; returns the image id (the config's digest).</summary>
    public static string Write(string path, IReadOnlyList<TestLayer> layers, string[] repoTags, string[] cmd, string? user = null)
    {
        var config = new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = new JsonObject
            {
                ["Env"] = new JsonArray("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
                ["Cmd"] = new JsonArray([.. cmd.Select(c => (JsonNode?)c)]),
                ["User"] = user ?? "",
            },
            ["rootfs"] = new JsonObject
            {
                ["type"] = "layers",
                ["diff_ids"] = new JsonArray([.. layers.Select(l => (JsonNode?)l.DiffId)]),
            },
        };
        byte[] configBytes = Encoding.UTF8.GetBytes(config.ToJsonString());
        string id = ImagePullImages.Sha256(configBytes);
        // docker save names layer dirs by legacy ids; any unique names do.
        List<string> layerPaths = [.. layers.Select((l, i) => $"{l.Digest[7..]}/layer.tar")];
        var manifest = new JsonArray(new JsonObject
        {
            ["Config"] = id[7..] + ".json",
            ["RepoTags"] = new JsonArray([.. repoTags.Select(t => (JsonNode?)t)]),
            ["Layers"] = new JsonArray([.. layerPaths.Select(p => (JsonNode?)p)]),
        });

        using FileStream file = File.Create(path);
        using var tar = new TarWriter(file, TarEntryFormat.Pax);
        for (int i = 0; i < layers.Count; i++)
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, layerPaths[i][..layerPaths[i].IndexOf('/')] + "/") { Mode = (UnixFileMode)0x1ED });
            Add(tar, layerPaths[i], layers[i].Blob); // gzip'd layers stay gzip'd: importers must sniff
        }
        Add(tar, id[7..] + ".json", configBytes);
        Add(tar, "manifest.json", Encoding.UTF8.GetBytes(manifest.ToJsonString()));
        return id;
    }

    private static void Add(TarWriter tar, string name, byte[] content) =>
        tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content), Mode = (UnixFileMode)0x1A4 });
}
