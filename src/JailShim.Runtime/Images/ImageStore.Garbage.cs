using Microsoft.Extensions.Logging;

namespace JailShim.Runtime.Images;

/// <summary>What one garbage collection did. <see cref="Deferred"/>: an import was in flight, so nothing was touched.</summary>
public sealed record ImageGarbage(int LayersRemoved, int BlobsRemoved, bool Deferred);

public sealed partial class ImageStore
{
    /// <summary>
    /// Deletes the unpacked layers and blobs no stored image needs. Layers named in
    /// <paramref name="layersInUse"/> stay even without an image: they are overlay lower dirs
    /// of containers (running, or exited and not yet removed), which must keep working after
    /// their image is removed. Skipped (Deferred) while any import is in flight in any process:
    /// its blobs and layers are not recorded yet. The engine calls this after removing a
    /// container or an image, and at start.
    /// </summary>
    public ImageGarbage CollectGarbage(IReadOnlySet<string> layersInUse)
    {
        lock (_gate)
        using (LockIndex())
        {
            using FileLock? alone = TryExcludeWriters();
            if (alone is null)
            {
                _logger.LogDebug("image store: an import is in flight; garbage collection waits for the next round");
                return new ImageGarbage(0, 0, Deferred: true);
            }

            Dictionary<string, ImageRecord> records = Current().Records;
            var keepLayers = records.Values.SelectMany(r => r.LayerDiffIds).Concat(layersInUse).ToHashSet(StringComparer.Ordinal);
            var keepBlobs = records.Values.SelectMany(r => r.Blobs()).ToHashSet(StringComparer.Ordinal);

            int layers = 0, blobs = 0;
            foreach (string layer in _layers.List().Where(l => !keepLayers.Contains(l)).ToList())
            {
                if (!_layers.Remove(layer)) continue;
                layers++;
                _logger.LogInformation("image store: removed unused layer {Layer}", layer);
            }
            foreach (string blob in _blobs.List().Where(b => !keepBlobs.Contains(b)).ToList())
                if (_blobs.Remove(blob)) blobs++;
            return new ImageGarbage(layers, blobs, Deferred: false);
        }
    }
}
