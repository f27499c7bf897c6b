using System.Diagnostics;
using System.Text.Json;
using JailShim.Runtime.Images.Registry;
using JailShim.Runtime.Telemetry;
using Microsoft.Extensions.Logging;
using ZstdSharp;

namespace JailShim.Runtime.Images;

/// <summary>
/// Pulling from OCI distribution registries: resolve the reference (mirrors first, manifest lists
/// down to this platform), fetch the config and every layer blob not already stored (each verified
/// against its digest and size while it streams to disk), unpack each layer not already unpacked,
/// then write the image record. Two pulls that need the same blob or layer at the same time share
/// one download and one unpack. A failed pull takes away the blobs and layers it added.
/// </summary>
public sealed partial class ImageStore
{
    private const long MaxConfigBytes = 16 << 20;
    private const int ParallelLayers = 3;

    /// <summary>A download that receives nothing for this long is given up (containerd's image_pull_progress_timeout idea).</summary>
    private static readonly TimeSpan DownloadIdleTimeout = TimeSpan.FromSeconds(60);

    private readonly SingleFlight<string, BlobInfo> _blobFlights = new();
    private readonly SingleFlight<string, bool> _layerFlights = new();
    private RegistryClient? _registry;

    /// <summary>The registry client pulls go through: registry settings, the connection pool, cached tokens.</summary>
    public RegistryClient Registry
    {
        get => _registry ??= new RegistryClient();
        init => _registry = value;
    }

    /// <summary>
    /// Pulls <paramref name="reference"/> ("busybox", "host:5000/x:1", "name@sha256:...") and returns the stored image.
    /// A tag is pointed at the image (moved off any other); repo_digests gets "name@digest" of what the
    /// reference resolved to. Errors are <see cref="EngineException"/>s: InvalidArgument (bad name),
    /// NotFound (no such tag, repository or platform), Unauthenticated / PermissionDenied (credentials),
    /// Unavailable (registry unreachable or failing), DataLoss (digest or size mismatch, corrupt layer),
    /// FailedPrecondition (not an image we can run, or a layer with entries that escape it).
    /// </summary>
    public async Task<StoredImage> PullAsync(string reference, RegistryCredentials? credentials = null, CancellationToken ct = default)
    {
        ImageReference name;
        try
        {
            name = ImageReference.Parse(reference);
        }
        catch (FormatException e)
        {
            throw EngineException.Invalid("image", e.Message);
        }

        using Activity? span = EngineTelemetry.Phase("image.pull");
        span?.SetTag("jailshim.image", name.ToString());
        var clock = Stopwatch.StartNew();
        try
        {
            ResolvedImage resolved = await ManifestResolver.ResolveAsync(Registry, name, credentials, _logger, ct).ConfigureAwait(false);
            var pull = new Pull(name, resolved);
            StoredImage image = await StoreAsync(pull, ct).ConfigureAwait(false);
            span?.SetTag("jailshim.image_id", image.Id);
            _logger.LogInformation("pulled {Reference} ({Id}) from {Endpoint} in {Ms} ms: {Bytes} bytes downloaded",
                name, image.Id, resolved.Session.Endpoint, clock.ElapsedMilliseconds, pull.Downloaded);
            return image;
        }
        catch (EngineException e)
        {
            EngineTelemetry.Fail(span, e);
            throw new EngineException(e.Kind, $"pulling {name}: {e.Message}", e);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            EngineTelemetry.Fail(span, e);
            throw;
        }
    }

    /// <summary>What one pull is working with, and what it added (to take away again if it fails).</summary>
    private sealed class Pull(ImageReference name, ResolvedImage resolved)
    {
        public ImageReference Name => name;
        public ResolvedImage Resolved => resolved;
        public RegistrySession Session => resolved.Session;
        public readonly List<string> TouchedBlobs = [];
        public readonly List<string> NewLayers = [];
        private long _downloaded;

        public long Downloaded => Interlocked.Read(ref _downloaded);

        public void AddDownloaded(long bytes) => Interlocked.Add(ref _downloaded, bytes);

        public void Touched(string blob) { lock (TouchedBlobs) TouchedBlobs.Add(blob); }

        public void Unpacked(string layer) { lock (NewLayers) NewLayers.Add(layer); }
    }

    private async Task<StoredImage> StoreAsync(Pull pull, CancellationToken ct)
    {
        ManifestDocument manifest = pull.Resolved.Manifest;
        RegistryDescriptor configDescriptor = CheckConfigDescriptor(pull, manifest.Config);
        List<RegistryDescriptor> layers = manifest.Layers ?? [];
        for (int i = 0; i < layers.Count; i++) CheckLayerDescriptor(pull, layers[i], i);

        // Held from the first blob until the record is written: garbage collection leaves our work alone meanwhile.
        FileLock writing = BeginWrite();
        try
        {
            await FetchBlobAsync(pull, configDescriptor, ct).ConfigureAwait(false);
            byte[] configBytes = await File.ReadAllBytesAsync(_blobs.PathOf(configDescriptor.Digest!), ct).ConfigureAwait(false);
            OciImageConfigFile config = ParseConfig(pull, configBytes, layers.Count);
            List<string> diffIds = config.Rootfs!.DiffIds!;

            await Parallel.ForEachAsync(Enumerable.Range(0, layers.Count),
                new ParallelOptions { MaxDegreeOfParallelism = ParallelLayers, CancellationToken = ct },
                async (i, token) => await EnsureLayerAsync(pull, layers[i], diffIds[i], token).ConfigureAwait(false)).ConfigureAwait(false);

            // The platform manifest's exact bytes, so the record's manifest digest names content we have.
            BlobInfo manifestBlob = _blobs.Write(pull.Resolved.ManifestBytes);
            pull.Touched(manifestBlob.Digest);

            var record = new ImageRecord
            {
                Id = configDescriptor.Digest!,
                RepoTags = pull.Name.Digest is null && pull.Name.Tag is { } tag ? [$"{pull.Name.Repository}:{tag}"] : [],
                RepoDigests = [$"{pull.Name.Repository}@{pull.Resolved.ReferenceDigest}"],
                ManifestDigest = manifestBlob.Digest,
                LayerDiffIds = [.. diffIds],
                LayerDigests = [.. layers.Select(l => l.Digest!)],
                Size = layers.Sum(l => l.Size),
                Config = config.ToImageConfig(),
            };
            return Commit(record).ToStoredImage();
        }
        catch
        {
            writing.Dispose(); // our own lease would keep the clean-up from running
            DropUnreferenced(pull.TouchedBlobs, pull.NewLayers);
            throw;
        }
        finally
        {
            writing.Dispose();
        }
    }

    /// <summary>Downloads a blob unless it is stored already; concurrent pulls of the same digest share one download.</summary>
    private async Task FetchBlobAsync(Pull pull, RegistryDescriptor descriptor, CancellationToken ct)
    {
        string digest = descriptor.Digest!;
        pull.Touched(digest);
        if (_blobs.Has(digest)) return;
        await _blobFlights.RunAsync(digest, async token =>
        {
            if (_blobs.Has(digest)) return new BlobInfo(digest, descriptor.Size);
            using Activity? span = EngineTelemetry.Phase("image.fetch_blob");
            span?.SetTag("jailshim.digest", digest);
            span?.SetTag("jailshim.size", descriptor.Size);
            try
            {
                return await DownloadAsync(pull, descriptor, token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                EngineTelemetry.Fail(span, e);
                throw;
            }
        }, ct).ConfigureAwait(false);
    }

    private async Task<BlobInfo> DownloadAsync(Pull pull, RegistryDescriptor descriptor, CancellationToken ct)
    {
        string digest = descriptor.Digest!;
        RegistryEndpoint endpoint = pull.Session.Endpoint;
        using HttpResponseMessage response = await pull.Session.GetBlobAsync(digest, ct).ConfigureAwait(false);
        if (response.Content.Headers.ContentLength is long length && length != descriptor.Size)
            throw new EngineException(EngineErrorKind.DataLoss,
                $"{endpoint}: size mismatch: blob {digest} is {descriptor.Size} bytes by its manifest, the registry sends {length}");
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
        idle.CancelAfter(DownloadIdleTimeout);
        try
        {
            Stream network = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using var bounded = new BoundedStream(network, descriptor.Size, () => new InvalidDataException(
                $"size mismatch: blob {digest} is {descriptor.Size} bytes by its manifest, the registry sends more"),
                onProgress: () => idle.CancelAfter(DownloadIdleTimeout));
            BlobInfo blob = await _blobs.WriteAsync(bounded, digest, descriptor.Size, idle.Token).ConfigureAwait(false);
            pull.AddDownloaded(blob.Size);
            return blob;
        }
        catch (InvalidDataException e)
        {
            string message = e.Message.Contains("mismatch", StringComparison.Ordinal) ? e.Message : "size mismatch: " + e.Message;
            throw new EngineException(EngineErrorKind.DataLoss, $"{endpoint}: {message}", e);
        }
        catch (Exception e) when (e is HttpRequestException or HttpIOException)
        {
            throw new EngineException(EngineErrorKind.Unavailable, $"{endpoint}: download of blob {digest} broke off: {RegistryClient.Flatten(e)}", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new EngineException(EngineErrorKind.Unavailable,
                $"{endpoint}: download of blob {digest} stalled: nothing received for {DownloadIdleTimeout.TotalSeconds:0} s", e);
        }
    }

    /// <summary>
    /// Makes sure a layer is unpacked: nothing is downloaded when the layer is there already
    /// (another image has it); otherwise its blob is fetched and unpacked once, however many pulls wait for it.
    /// </summary>
    private async Task EnsureLayerAsync(Pull pull, RegistryDescriptor descriptor, string diffId, CancellationToken ct)
    {
        string digest = descriptor.Digest!;
        if (_layers.Has(diffId))
        {
            pull.Touched(digest);
            return;
        }
        await FetchBlobAsync(pull, descriptor, ct).ConfigureAwait(false);
        await _layerFlights.RunAsync(diffId, async token =>
        {
            if (_layers.Has(diffId)) return true;
            using Activity? span = EngineTelemetry.Phase("image.unpack_layer");
            span?.SetTag("jailshim.digest", digest);
            span?.SetTag("jailshim.diff_id", diffId);
            try
            {
                await _layers.EnsureAsync(diffId, () => LayerDecompressor.Open(_blobs.Open(digest)), token).ConfigureAwait(false);
                pull.Unpacked(diffId);
                return true;
            }
            catch (UnsafeLayerEntryException e)
            {
                EngineTelemetry.Fail(span, e);
                throw new EngineException(EngineErrorKind.FailedPrecondition, $"layer {digest}: {e.Message}", e);
            }
            catch (Exception e) when (e is InvalidDataException or ZstdException or EndOfStreamException or FormatException)
            {
                EngineTelemetry.Fail(span, e);
                string problem = e.Message.Contains("diff id", StringComparison.Ordinal)
                    ? $"digest mismatch: uncompressed content does not match the image config: {e.Message}"
                    : $"corrupt layer: {e.Message}";
                throw new EngineException(EngineErrorKind.DataLoss, $"layer {digest}: {problem}", e);
            }
        }, ct).ConfigureAwait(false);
    }

    private static RegistryDescriptor CheckConfigDescriptor(Pull pull, RegistryDescriptor? config)
    {
        RegistryEndpoint endpoint = pull.Session.Endpoint;
        if (config is null || config.Digest is null || !Digest.IsSha256(config.Digest))
            throw new EngineException(EngineErrorKind.FailedPrecondition,
                $"{endpoint}: manifest {pull.Resolved.ManifestDigest} has no config with a sha256 digest");
        if (!MediaTypes.IsImageConfig(config.MediaType))
            throw new EngineException(EngineErrorKind.FailedPrecondition,
                $"{endpoint}: {pull.Name} is not a container image (config media type '{config.MediaType}')");
        if (config.Size is <= 0 or > MaxConfigBytes)
            throw new EngineException(EngineErrorKind.FailedPrecondition,
                $"{endpoint}: image config {config.Digest} has size {config.Size} (1 byte to {MaxConfigBytes >> 20} MiB allowed)");
        return config;
    }

    private static void CheckLayerDescriptor(Pull pull, RegistryDescriptor layer, int index)
    {
        RegistryEndpoint endpoint = pull.Session.Endpoint;
        if (layer.Digest is null || !Digest.IsSha256(layer.Digest))
            throw new EngineException(EngineErrorKind.FailedPrecondition,
                $"{endpoint}: layer {index + 1} has digest '{layer.Digest}', not a sha256 digest");
        if (!MediaTypes.IsUnpackableLayer(layer.MediaType))
            throw new EngineException(EngineErrorKind.FailedPrecondition,
                $"{endpoint}: layer {layer.Digest} has media type '{layer.MediaType}', which is not a layer this runtime unpacks");
        if (layer.Size <= 0)
            throw new EngineException(EngineErrorKind.FailedPrecondition, $"{endpoint}: layer {layer.Digest} has no size");
    }

    private static OciImageConfigFile ParseConfig(Pull pull, byte[] bytes, int layerCount)
    {
        RegistryEndpoint endpoint = pull.Session.Endpoint;
        OciImageConfigFile? config;
        try
        {
            config = JsonSerializer.Deserialize(bytes, ImageJsonContext.Default.OciImageConfigFile);
        }
        catch (JsonException e)
        {
            throw new EngineException(EngineErrorKind.FailedPrecondition, $"{endpoint}: the image config is not valid JSON: {e.Message}");
        }
        if (config?.Rootfs?.DiffIds is not { } diffIds)
            throw new EngineException(EngineErrorKind.FailedPrecondition, $"{endpoint}: the image config lists no rootfs.diff_ids");
        if (diffIds.Count != layerCount)
            throw new EngineException(EngineErrorKind.FailedPrecondition,
                $"{endpoint}: the image config lists {diffIds.Count} layers, the manifest {layerCount}");
        if (diffIds.FirstOrDefault(d => !Digest.IsSha256(d)) is { } bad)
            throw new EngineException(EngineErrorKind.FailedPrecondition, $"{endpoint}: the image config lists layer '{bad}', not a sha256 digest");
        if (config.Os is { Length: > 0 } os && os != HostPlatform.Os)
            throw new EngineException(EngineErrorKind.FailedPrecondition, $"{endpoint}: {pull.Name} is a {os} image, not a linux one");
        return config;
    }
}
