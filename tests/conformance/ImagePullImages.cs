using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace JailShim.Conformance;

/// <summary>One tar entry of a test layer.</summary>
public sealed record LayerEntry(TarEntryType Type, string Name, string? Content = null, string? LinkName = null, int Mode = 0x1ED)
{
    public static LayerEntry Dir(string name) => new(TarEntryType.Directory, name);
    public static LayerEntry File(string name, string content) => new(TarEntryType.RegularFile, name, content, Mode: 0x1A4);
    public static LayerEntry Symlink(string name, string target) => new(TarEntryType.SymbolicLink, name, LinkName: target, Mode: 0x1FF);

    /// <summary>"dir/.wh.NAME": hides NAME of the layers below.</summary>
    public static LayerEntry Whiteout(string dir, string name) => File($"{dir}/.wh.{name}", "");

    /// <summary>"dir/.wh..wh..opq": hides everything the layers below have in dir.</summary>
    public static LayerEntry Opaque(string dir) => File($"{dir}/.wh..wh..opq", "");
}

/// <summary>A layer as it goes into a layout: its (maybe compressed) blob and the digest of its tar.</summary>
public sealed record TestLayer(byte[] Blob, string MediaType, string DiffId)
{
    public string Digest => ImagePullImages.Sha256(Blob);

    public static TestLayer Gzip(byte[] tar) =>
        new(ImagePullImages.Gzip(tar), "application/vnd.oci.image.layer.v1.tar+gzip", ImagePullImages.Sha256(tar));

    public static TestLayer Tar(byte[] tar) =>
        new(tar, "application/vnd.oci.image.layer.v1.tar", ImagePullImages.Sha256(tar));

    public static TestLayer Gzip(params LayerEntry[] entries) => Gzip(ImagePullImages.Tar(entries));
}

/// <summary>
/// Writes OCI image layouts (oci-layout, index.json, blobs/sha256) for skopeo to push: single images
/// and multi-platform indexes, layers built from entries (whiteouts, opaque dirs, hostile names) or
/// random bytes, on top of the daemon's own base layer when the image must run.
/// </summary>
public sealed class ImagePullImages
{
    private readonly string _dir;
    private readonly JsonArray _refs = [];

    public ImagePullImages(string dir)
    {
        _dir = dir;
        Directory.CreateDirectory(Path.Combine(dir, "blobs", "sha256"));
        System.IO.File.WriteAllText(Path.Combine(dir, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        Save();
    }

    public string Dir => _dir;

    /// <summary>Adds an image; returns its manifest's digest and the config digest (the image id a pull must report).</summary>
    public (string ManifestDigest, string ConfigDigest, long ManifestSize) AddImage(string? tag, IReadOnlyList<TestLayer> layers,
        string architecture = "amd64", string[]? cmd = null, string[]? env = null)
    {
        var config = new JsonObject
        {
            ["architecture"] = architecture,
            ["os"] = "linux",
            ["config"] = new JsonObject
            {
                ["Env"] = new JsonArray([.. (env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]).Select(e => (JsonNode?)e)]),
                ["Cmd"] = new JsonArray([.. (cmd ?? ["/bin/sh"]).Select(c => (JsonNode?)c)]),
            },
            ["rootfs"] = new JsonObject
            {
                ["type"] = "layers",
                ["diff_ids"] = new JsonArray([.. layers.Select(l => (JsonNode?)l.DiffId)]),
            },
        };
        byte[] configBytes = Encoding.UTF8.GetBytes(config.ToJsonString());
        string configDigest = AddBlob(configBytes);
        foreach (TestLayer layer in layers) AddBlob(layer.Blob);
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = Descriptor("application/vnd.oci.image.config.v1+json", configDigest, configBytes.Length),
            ["layers"] = new JsonArray([.. layers.Select(l => (JsonNode?)Descriptor(l.MediaType, l.Digest, l.Blob.Length))]),
        };
        byte[] manifestBytes = Encoding.UTF8.GetBytes(manifest.ToJsonString());
        string manifestDigest = AddBlob(manifestBytes);
        if (tag is not null) AddRef(tag, "application/vnd.oci.image.manifest.v1+json", manifestDigest, manifestBytes.Length);
        return (manifestDigest, configDigest, manifestBytes.Length);
    }

    /// <summary>Adds an OCI index over images already added (each with its platform) and tags it.</summary>
    public string AddIndex(string tag, IReadOnlyList<(string Digest, long Size, string Architecture)> manifests)
    {
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.index.v1+json",
            ["manifests"] = new JsonArray([.. manifests.Select(m =>
            {
                JsonObject d = Descriptor("application/vnd.oci.image.manifest.v1+json", m.Digest, m.Size);
                d["platform"] = new JsonObject { ["architecture"] = m.Architecture, ["os"] = "linux" };
                if (m.Architecture == "arm64") d["platform"]!["variant"] = "v8";
                return (JsonNode?)d;
            })]),
        };
        byte[] bytes = Encoding.UTF8.GetBytes(index.ToJsonString());
        string digest = AddBlob(bytes);
        AddRef(tag, "application/vnd.oci.image.index.v1+json", digest, bytes.Length);
        return digest;
    }

    public string AddBlob(byte[] content)
    {
        string digest = Sha256(content);
        string path = Path.Combine(_dir, "blobs", "sha256", digest[7..]);
        if (!System.IO.File.Exists(path)) System.IO.File.WriteAllBytes(path, content);
        return digest;
    }

    private void AddRef(string tag, string mediaType, string digest, long size)
    {
        JsonObject d = Descriptor(mediaType, digest, size);
        d["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = tag };
        _refs.Add(d);
        Save();
    }

    private void Save() => System.IO.File.WriteAllText(Path.Combine(_dir, "index.json"),
        new JsonObject { ["schemaVersion"] = 2, ["manifests"] = _refs.DeepClone() }.ToJsonString());

    private static JsonObject Descriptor(string mediaType, string digest, long size) =>
        new() { ["mediaType"] = mediaType, ["digest"] = digest, ["size"] = size };

    public static string Sha256(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

    public static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest)) gzip.Write(data);
        return output.ToArray();
    }

    /// <summary>A tar of the entries, in order, owned by root, PAX format.</summary>
    public static byte[] Tar(params LayerEntry[] entries)
    {
        using var output = new MemoryStream();
        using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (LayerEntry e in entries)
            {
                var entry = new PaxTarEntry(e.Type, e.Name)
                {
                    Mode = (UnixFileMode)e.Mode,
                    Uid = 0,
                    Gid = 0,
                    ModificationTime = DateTimeOffset.UnixEpoch.AddDays(20000),
                };
                if (e.LinkName is not null) entry.LinkName = e.LinkName;
                if (e.Content is not null) entry.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(e.Content));
                writer.WriteEntry(entry);
            }
        }
        return output.ToArray();
    }

    /// <summary>A layer with one file of incompressible bytes (so gzip keeps its size).</summary>
    public static byte[] RandomTar(string fileName, int bytes)
    {
        byte[] data = RandomNumberGenerator.GetBytes(bytes);
        using var output = new MemoryStream();
        using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, fileName)
            {
                Mode = (UnixFileMode)0x1A4,
                ModificationTime = DateTimeOffset.UnixEpoch.AddDays(20000),
                DataStream = new MemoryStream(data),
            });
        }
        return output.ToArray();
    }
}
