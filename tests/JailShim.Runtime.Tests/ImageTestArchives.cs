using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace JailShim.Runtime.Tests.Images;

/// <summary>Writes images to disk the way tools do, for import tests: OCI image layouts and docker save archives.</summary>
internal static class ImageTestArchives
{
    public const string OciManifestType = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndexType = "application/vnd.oci.image.index.v1+json";
    public const string OciConfigType = "application/vnd.oci.image.config.v1+json";
    public const string LayerType = "application/vnd.oci.image.layer.v1.tar";
    public const string LayerGzipType = "application/vnd.oci.image.layer.v1.tar+gzip";

    public static string DigestOf(byte[] content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>An image config listing the given (uncompressed) layers.</summary>
    public static byte[] Config(byte[][] layers, string arch = "amd64", string? cmd = null, string? user = null) =>
        Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = arch,
            ["os"] = "linux",
            ["config"] = new JsonObject
            {
                ["Cmd"] = new JsonArray(cmd ?? "/bin/sh"),
                ["Env"] = new JsonArray("PATH=/bin"),
                ["User"] = user ?? "",
            },
            ["rootfs"] = new JsonObject
            {
                ["type"] = "layers",
                ["diff_ids"] = new JsonArray([.. layers.Select(l => (JsonNode?)DigestOf(l))]),
            },
        }.ToJsonString());

    public static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return output.ToArray();
    }

    /// <summary>An OCI image layout being written into a directory.</summary>
    internal sealed class OciLayout
    {
        public OciLayout(string dir)
        {
            Dir = dir;
            Directory.CreateDirectory(Path.Combine(dir, "blobs", "sha256"));
            File.WriteAllText(Path.Combine(dir, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        }

        public string Dir { get; }

        public string BlobPath(string digest) => Path.Combine(Dir, "blobs", "sha256", digest["sha256:".Length..]);

        public JsonObject Blob(byte[] content, string mediaType)
        {
            string digest = DigestOf(content);
            File.WriteAllBytes(BlobPath(digest), content);
            return new JsonObject { ["mediaType"] = mediaType, ["digest"] = digest, ["size"] = content.Length };
        }

        /// <summary>Writes config, layers (gzip'd when asked) and the manifest; returns the manifest's descriptor.</summary>
        public JsonObject Image(byte[] config, byte[][] layers, bool gzip = true)
        {
            var manifest = new JsonObject
            {
                ["schemaVersion"] = 2,
                ["mediaType"] = OciManifestType,
                ["config"] = Blob(config, OciConfigType),
                ["layers"] = new JsonArray([.. layers.Select(l => (JsonNode?)(gzip ? Blob(Gzip(l), LayerGzipType) : Blob(l, LayerType)))]),
            };
            return Blob(Encoding.UTF8.GetBytes(manifest.ToJsonString()), OciManifestType);
        }

        /// <summary>An image index (manifest list) blob over the given entries.</summary>
        public JsonObject NestedIndex(params JsonObject[] entries) =>
            Blob(Encoding.UTF8.GetBytes(IndexJson(entries)), OciIndexType);

        public void WriteIndex(params JsonObject[] entries) => File.WriteAllText(Path.Combine(Dir, "index.json"), IndexJson(entries));

        private static string IndexJson(JsonObject[] entries) => new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = OciIndexType,
            ["manifests"] = new JsonArray([.. entries.Select(e => (JsonNode?)e.DeepClone())]),
        }.ToJsonString();
    }

    public static JsonObject WithPlatform(JsonObject descriptor, string arch, string os = "linux")
    {
        var copy = (JsonObject)descriptor.DeepClone();
        copy["platform"] = new JsonObject { ["architecture"] = arch, ["os"] = os };
        return copy;
    }

    public static JsonObject WithRef(JsonObject descriptor, string refName)
    {
        var copy = (JsonObject)descriptor.DeepClone();
        copy["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = refName };
        return copy;
    }

    /// <summary>
    /// A docker save archive in the classic layout: manifest.json, &lt;config-hex&gt;.json and
    /// &lt;n&gt;/layer.tar per layer (gzip'd when asked, as some tools write them).
    /// </summary>
    public static void WriteDockerArchive(string path, byte[] config, byte[][] layers, string[] repoTags, bool gzipLayers = false)
    {
        string configName = DigestOf(config)["sha256:".Length..] + ".json";
        var layerNames = layers.Select((_, i) => $"{i:x64}/layer.tar").ToList();
        var manifest = new JsonArray(new JsonObject
        {
            ["Config"] = configName,
            ["RepoTags"] = new JsonArray([.. repoTags.Select(t => (JsonNode?)t)]),
            ["Layers"] = new JsonArray([.. layerNames.Select(n => (JsonNode?)n)]),
        });

        using var file = File.Create(path);
        using var tar = new TarWriter(file, TarEntryFormat.Pax);
        for (int i = 0; i < layers.Length; i++)
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, $"{i:x64}/"));
            Add(tar, layerNames[i], gzipLayers ? Gzip(layers[i]) : layers[i]);
        }
        Add(tar, configName, config);
        Add(tar, "manifest.json", Encoding.UTF8.GetBytes(manifest.ToJsonString()));
    }

    private static void Add(TarWriter tar, string name, byte[] content) =>
        tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content), Mode = (UnixFileMode)0x1A4 });
}
