using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace JailShim.Runtime.Images;

/// <summary>
/// The engine's images: an OCI-style content store under one root.
/// <code>
/// blobs/sha256/&lt;hex&gt;              configs, manifests, layer tars (content-addressed, verified)
/// layers/sha256/&lt;diff-id-hex&gt;/fs   each layer unpacked once; overlayfs lower dirs
/// images/&lt;config-hex&gt;.json         one index record per image (id = config digest)
/// tmp/                            work in progress; wiped on open when no other process has the store open
/// lock, writers.lock, open.lock   flock files that let the daemon and `jailshim image import` share the store
/// generation                      changes with every index change; other processes reload when it does
/// </code>
/// Everything is written to tmp/ and renamed into place, and an image's record
/// is written after its blobs and layers, so a crash leaves at worst unused
/// blobs or layers, never a half image. One store per root per process; other
/// processes may open the same root at the same time (see ImageStore.Sharing.cs).
/// </summary>
public sealed partial class ImageStore
{
    private readonly string _imagesDir;
    private readonly BlobStore _blobs;
    private readonly LayerStore _layers;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();

    // Copy-on-write index: readers take the current snapshot without locking.
    private volatile Snapshot _snapshot;

    public ImageStore(string root, ILogger? logger = null)
    {
        Root = Path.GetFullPath(root);
        _logger = logger ?? NullLogger.Instance;
        string blobsDir = Path.Combine(Root, "blobs", "sha256");
        string layersDir = Path.Combine(Root, "layers", "sha256");
        _imagesDir = Path.Combine(Root, "images");
        TempDir = Path.Combine(Root, "tmp");
        foreach (string dir in new[] { blobsDir, layersDir, _imagesDir })
            Directory.CreateDirectory(dir);

        // Whatever is in tmp/ was being written when a previous daemon stopped: never visible, so just drop it.
        // Unless another process (the daemon, or `jailshim image import`) has the store open: then it may be its work.
        if (Directory.Exists(TempDir) && TakeOpenLock())
        {
            foreach (string leftover in Directory.EnumerateFileSystemEntries(TempDir))
                _logger.LogInformation("image store: removing unfinished {Path}", leftover);
            Directory.Delete(TempDir, recursive: true);
        }
        Directory.CreateDirectory(TempDir);

        _blobs = new BlobStore(blobsDir, TempDir);
        _layers = new LayerStore(layersDir, TempDir);
        string generation = ReadGeneration();
        _snapshot = new Snapshot(Load(), generation);
    }

    /// <summary>The store's root directory (the daemon passes {--root}/images).</summary>
    public string Root { get; }

    /// <summary>Scratch space on the store's filesystem, so finished work can be renamed into place.</summary>
    internal string TempDir { get; }

    public IReadOnlyList<StoredImage> List() =>
        [.. Current().Records.Values.OrderBy(r => r.Id, StringComparer.Ordinal).Select(r => r.ToStoredImage())];

    /// <summary>
    /// Looks an image up the ways CRI clients name one: full id ("sha256:&lt;hex&gt;" or bare hex),
    /// a tag ("busybox", "jailshim.local/base:latest", normalized as Docker does), a repo digest
    /// ("name@sha256:..."), or a unique id prefix of at least 12 hex digits. Null when nothing
    /// (or more than one image, for a prefix) matches.
    /// </summary>
    public StoredImage? Find(string reference) => FindRecord(Current().Records, reference)?.Record.ToStoredImage();

    /// <summary>The image's config blob as stored (the OCI image config JSON), or null when it is gone.</summary>
    public byte[]? ReadConfig(StoredImage image)
    {
        try { return File.ReadAllBytes(_blobs.PathOf(image.Id)); }
        catch (FileNotFoundException) { return null; }
    }

    /// <summary>The image's unpacked layers, top-most first: the order overlayfs wants in lowerdir=.</summary>
    public IReadOnlyList<string> LowerDirs(StoredImage image) =>
        [.. image.LayerDiffIds.Reverse().Select(_layers.FsDirOf)];

    /// <summary>
    /// Adds an image from its config JSON and its layer tars (uncompressed, bottom first), and
    /// points <paramref name="tags"/> at it (moving them off any other image). Layers already
    /// unpacked are not unpacked again. A config without rootfs.diff_ids gets them filled in
    /// (that changes its digest, so do it only for images we assemble ourselves); one with them
    /// must match the layers. Importing an image that is already stored just adds the tags.
    /// </summary>
    internal Task<StoredImage> ImportAsync(
        ReadOnlyMemory<byte> configJson, IReadOnlyList<Func<Stream>> layerTars, IReadOnlyList<string> tags, CancellationToken ct = default) =>
        ImportAsync(configJson, layerTars, tags, sourceManifestDigest: null, ct);

    /// <summary>
    /// As above; <paramref name="sourceManifestDigest"/> is the digest of the manifest the image came
    /// with (an OCI layout's), reported in repo_digests instead of the one the store writes for it.
    /// Layers whose digest the config lists are checked against it before they are stored. A failed
    /// import removes what it added that no image uses (when no other import is in flight).
    /// </summary>
    internal async Task<StoredImage> ImportAsync(ReadOnlyMemory<byte> configJson, IReadOnlyList<Func<Stream>> layerTars,
        IReadOnlyList<string> tags, string? sourceManifestDigest, CancellationToken ct)
    {
        List<string> repoTags = [];
        foreach (string tag in tags)
        {
            ImageReference parsed = ImageReference.Parse(tag);
            if (parsed.Digest is not null) throw new ArgumentException($"'{tag}' pins a digest; only tags can name an import", nameof(tags));
            if (!repoTags.Contains(parsed.ToString())) repoTags.Add(parsed.ToString());
        }

        string[]? declared = DeclaredDiffIds(configJson);
        if (declared is not null && declared.Length != layerTars.Count)
            throw new InvalidDataException($"image config lists layers [{string.Join(", ", declared)}] but {layerTars.Count} layers were given");

        // What this import adds, so a failure can take it away again.
        var touchedBlobs = new List<string>();
        var newLayers = new List<string>();
        FileLock writing = BeginWrite();
        try
        {
            var layers = new List<BlobInfo>();
            for (int i = 0; i < layerTars.Count; i++)
            {
                string? expected = declared?[i];
                BlobInfo blob;
                try
                {
                    await using Stream tar = layerTars[i]();
                    blob = await _blobs.WriteAsync(tar, expected, null, ct).ConfigureAwait(false);
                }
                catch (InvalidDataException e) when (expected is not null)
                {
                    throw new InvalidDataException(
                        $"layer {i + 1} does not match the image config, which lists layers [{string.Join(", ", declared!)}]: {e.Message}", e);
                }
                touchedBlobs.Add(blob.Digest);
                // Uncompressed layers: the blob digest is the diff id.
                if (!_layers.Has(blob.Digest)) newLayers.Add(blob.Digest);
                await _layers.EnsureAsync(blob.Digest, () => _blobs.Open(blob.Digest), ct).ConfigureAwait(false);
                layers.Add(blob);
            }

            byte[] configBytes = WithDiffIds(configJson, [.. layers.Select(l => l.Digest)]);
            OciImageConfigFile config = JsonSerializer.Deserialize(configBytes, ImageJsonContext.Default.OciImageConfigFile)
                ?? throw new InvalidDataException("image config is null");
            BlobInfo configBlob = _blobs.Write(configBytes);
            touchedBlobs.Add(configBlob.Digest);

            var manifest = new OciManifest
            {
                Config = new OciDescriptor(OciManifest.ConfigMediaType, configBlob.Digest, configBlob.Size),
                Layers = [.. layers.Select(l => new OciDescriptor(OciManifest.LayerTarMediaType, l.Digest, l.Size))],
            };
            BlobInfo manifestBlob = _blobs.Write(JsonSerializer.SerializeToUtf8Bytes(manifest, ImageJsonContext.Default.OciManifest));
            touchedBlobs.Add(manifestBlob.Digest);
            string repoDigest = sourceManifestDigest ?? manifestBlob.Digest;

            var record = new ImageRecord
            {
                Id = configBlob.Digest,
                RepoTags = repoTags,
                // What a registry would answer for these names; containerd reports the same for imports.
                RepoDigests = [.. repoTags.Select(t => ImageReference.Parse(t).Repository + "@" + repoDigest).Distinct()],
                ManifestDigest = manifestBlob.Digest,
                LayerDiffIds = [.. layers.Select(l => l.Digest)],
                LayerDigests = [.. layers.Select(l => l.Digest)],
                Size = layers.Sum(l => l.Size),
                Config = config.ToImageConfig(),
            };
            return Commit(record).ToStoredImage();
        }
        catch
        {
            writing.Dispose(); // our own lease would keep the clean-up from running
            DropUnreferenced(touchedBlobs, newLayers);
            throw;
        }
        finally
        {
            writing.Dispose();
        }
    }

    /// <summary>How a reference named an image: RemoveImage treats an id and a name differently.</summary>
    private enum MatchKind { Id, Tag, RepoDigest }

    /// <summary>The image a reference names, and how (<paramref name="name"/> is the parsed name for Tag and RepoDigest).</summary>
    private static (ImageRecord Record, MatchKind Kind, ImageReference? Name)? FindRecord(
        Dictionary<string, ImageRecord> records, string reference)
    {
        if (string.IsNullOrEmpty(reference)) return null;

        string hex = reference.StartsWith(Digest.Sha256Prefix, StringComparison.Ordinal) ? reference[Digest.Sha256Prefix.Length..] : reference;
        bool isHex = Digest.IsHex(hex);
        if (isHex && hex.Length == 64)
            return records.GetValueOrDefault(Digest.Sha256Prefix + hex) is { } byId ? (byId, MatchKind.Id, null) : null;

        if (ImageReference.TryParse(reference, out ImageReference? name))
        {
            ImageRecord? named = name.Digest is { } digest
                ? records.Values.FirstOrDefault(r => r.RepoDigests.Contains(name.Repository + "@" + digest))
                : records.Values.FirstOrDefault(r => r.RepoTags.Contains(name.ToString()));
            if (named is not null) return (named, name.Digest is null ? MatchKind.Tag : MatchKind.RepoDigest, name);
        }

        if (isHex && hex.Length >= 12)
        {
            var matches = records.Values.Where(r => r.Id.AsSpan(Digest.Sha256Prefix.Length).StartsWith(hex)).Take(2).ToList();
            if (matches.Count == 1) return (matches[0], MatchKind.Id, null);
        }
        return null;
    }

    /// <summary>Writes the record (merging with a stored image of the same id) and moves its tags off other images.</summary>
    private ImageRecord Commit(ImageRecord incoming)
    {
        lock (_gate)
        using (LockIndex())
        {
            var records = new Dictionary<string, ImageRecord>(Current().Records);
            if (records.TryGetValue(incoming.Id, out ImageRecord? existing))
            {
                incoming = existing with
                {
                    RepoTags = [.. existing.RepoTags.Union(incoming.RepoTags)],
                    RepoDigests = [.. existing.RepoDigests.Union(incoming.RepoDigests)],
                };
            }

            // A tag names one image: strip it from its old owner first, so a crash in between loses a tag rather than leaving two owners.
            foreach (ImageRecord other in records.Values.Where(r => r.Id != incoming.Id && r.RepoTags.Intersect(incoming.RepoTags).Any()).ToList())
            {
                ImageRecord untagged = other with { RepoTags = [.. other.RepoTags.Except(incoming.RepoTags)] };
                WriteRecord(untagged);
                records[other.Id] = untagged;
            }

            WriteRecord(incoming);
            records[incoming.Id] = incoming;
            Publish(records);
            return incoming;
        }
    }

    private void WriteRecord(ImageRecord record) =>
        AtomicFile.Write(RecordPath(record.Id), JsonSerializer.SerializeToUtf8Bytes(record, ImageJsonContext.Default.ImageRecord), TempDir);

    private string RecordPath(string id) => Path.Combine(_imagesDir, Digest.Hex(id) + ".json");

    private Dictionary<string, ImageRecord> Load()
    {
        var records = new Dictionary<string, ImageRecord>();
        foreach (string file in Directory.EnumerateFiles(_imagesDir, "*.json"))
        {
            try
            {
                ImageRecord? record = JsonSerializer.Deserialize(File.ReadAllBytes(file), ImageJsonContext.Default.ImageRecord);
                if (record is null || record.Schema != ImageRecord.CurrentSchema || RecordPath(record.Id) != file)
                {
                    _logger.LogWarning("image store: ignoring {File}: not a record this version wrote", file);
                    continue;
                }
                string? missing = record.LayerDiffIds.FirstOrDefault(d => !_layers.Has(d));
                if (missing is not null)
                {
                    _logger.LogWarning("image store: ignoring image {Id}: layer {Layer} is missing", record.Id, missing);
                    continue;
                }
                records[record.Id] = record;
            }
            catch (Exception e) when (e is JsonException or FormatException or IOException)
            {
                _logger.LogWarning("image store: ignoring unreadable {File}: {Error}", file, e.Message);
            }
        }
        return records;
    }

    /// <summary>The config's rootfs.diff_ids, or null when it lists none.</summary>
    private static string[]? DeclaredDiffIds(ReadOnlyMemory<byte> configJson)
    {
        JsonObject config = JsonNode.Parse(configJson.Span) as JsonObject
            ?? throw new InvalidDataException("image config is not a JSON object");
        if (config["rootfs"]?["diff_ids"] is not JsonArray declared) return null;
        string[] ids = [.. declared.Select(d => d is JsonValue v && v.TryGetValue(out string? id) ? id : "")];
        string? bad = ids.FirstOrDefault(d => !Digest.IsSha256(d));
        if (bad is not null) throw new InvalidDataException($"image config lists layer '{bad}', which is not a sha256 digest");
        return ids;
    }

    /// <summary>Sets rootfs.diff_ids when the config has none; otherwise checks they match the layers we were given.</summary>
    private static byte[] WithDiffIds(ReadOnlyMemory<byte> configJson, string[] diffIds)
    {
        JsonObject config = JsonNode.Parse(configJson.Span) as JsonObject
            ?? throw new InvalidDataException("image config is not a JSON object");
        if (config["rootfs"]?["diff_ids"] is JsonArray declared)
        {
            string[] listed = [.. declared.Select(d => d?.GetValue<string>() ?? "")];
            if (!listed.SequenceEqual(diffIds))
                throw new InvalidDataException(
                    $"image config lists layers [{string.Join(", ", listed)}] but the layers given are [{string.Join(", ", diffIds)}]");
            return configJson.ToArray();
        }
        config["rootfs"] = new JsonObject
        {
            ["type"] = "layers",
            ["diff_ids"] = new JsonArray([.. diffIds.Select(d => (JsonNode?)JsonValue.Create(d))]),
        };
        return System.Text.Encoding.UTF8.GetBytes(config.ToJsonString());
    }
}
