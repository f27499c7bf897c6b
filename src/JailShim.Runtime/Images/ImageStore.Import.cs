using System.Text.Json;
using JailShim.Runtime.Images.Registry;
using Microsoft.Extensions.Logging;

namespace JailShim.Runtime.Images;

public sealed partial class ImageStore
{
    /// <summary>
    /// Imports the images in <paramref name="path"/>: an OCI image layout directory, or a tar archive
    /// (<c>docker save</c>, plain or gzip'd, or a tarred OCI layout). <paramref name="name"/> names
    /// the image (or picks one of several). Every blob whose digest the source states is checked
    /// before anything is stored, so a mismatch leaves the store as it was; layers go through
    /// <see cref="ImportAsync(ReadOnlyMemory{byte}, IReadOnlyList{Func{Stream}}, IReadOnlyList{string}, string?, CancellationToken)"/>,
    /// so each is unpacked once and shared. With <paramref name="skipExisting"/> an image already
    /// stored (same id) is left as it is, names included (the start-up import directory).
    /// </summary>
    public async Task<IReadOnlyList<StoredImage>> ImportPathAsync(string path, string? name = null, bool skipExisting = false,
        CancellationToken ct = default)
    {
        using ImageSource source = ImageSource.OpenPath(Path.GetFullPath(path), TempDir);
        // Docker 25+ writes both; the OCI layout is the one with digests to check.
        IReadOnlyList<ImportPlan> plans = source.Exists("oci-layout") ? OciLayoutReader.Read(source, name)
            : source.Exists("manifest.json") ? DockerArchiveReader.Read(source, name)
            : throw new InvalidDataException(
                $"{path}: neither an OCI image layout (oci-layout, index.json) nor a docker save archive (manifest.json)");

        var results = new List<StoredImage>();
        var todo = new List<ImportPlan>();
        foreach (ImportPlan plan in plans)
        {
            if (skipExisting && Find(plan.Id) is { } stored) results.Add(stored);
            else todo.Add(plan);
        }
        foreach (ImportPlan plan in todo)
        {
            CheckPlatform(source, plan);
            foreach (ImportLayer layer in plan.Layers.Where(l => l.Digest is not null))
                await Task.Run(() => Verify(source, layer), ct).ConfigureAwait(false);
        }
        foreach (ImportPlan plan in todo)
        {
            List<Func<Stream>> layers = [.. plan.Layers.Select(l => (Func<Stream>)(() => LayerDecompressor.Open(source.Open(l.Path))))];
            StoredImage image = await ImportAsync(plan.Config, layers, plan.Tags, plan.ManifestDigest, ct).ConfigureAwait(false);
            _logger.LogInformation("imported {Names} ({Id}) from {Path}",
                image.RepoTags.Count == 0 ? "an untagged image" : string.Join(", ", image.RepoTags), image.Id, path);
            results.Add(image);
        }
        return results;
    }

    /// <summary>Hashes a layer file and compares it with the digest (and size) its source states.</summary>
    private static void Verify(ImageSource source, ImportLayer layer)
    {
        using Stream stream = source.Open(layer.Path);
        using var hashing = new HashingStream(stream);
        string actual = hashing.Finish();
        if (layer.Size is long size && size != hashing.BytesRead)
            throw new InvalidDataException($"{source.Description}: blob {layer.Digest} is {hashing.BytesRead} bytes, its descriptor says {size}");
        if (actual != layer.Digest)
            throw new InvalidDataException($"{source.Description}: digest mismatch: {layer.Path} should be {layer.Digest}, its content is {actual}");
    }

    /// <summary>Refuses an image built for another OS or architecture: it could not run here.</summary>
    private static void CheckPlatform(ImageSource source, ImportPlan plan)
    {
        OciImageConfigFile? config;
        try
        {
            config = JsonSerializer.Deserialize(plan.Config, ImageJsonContext.Default.OciImageConfigFile);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source.Description}: image config is not valid JSON: {e.Message}", e);
        }
        if ((config?.Os is { Length: > 0 } os && os != HostPlatform.Os)
            || (config?.Architecture is { Length: > 0 } arch && arch != HostPlatform.Architecture))
            throw new InvalidDataException(
                $"{source.Description}: the image is for {config?.Os}/{config?.Architecture}; this host runs {HostPlatform.Os}/{HostPlatform.Architecture}");
    }
}
