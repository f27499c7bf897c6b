using System.Collections.Concurrent;
using JailShim.Runtime.Images;
using JailShim.Runtime.State;
using Microsoft.Extensions.Logging;

namespace JailShim.Runtime;

/// <summary>
/// Which image layers containers use, and image garbage collection: a layer stays while any
/// container (running, or exited and not yet removed) has it as an overlay lower dir, even after
/// its image was removed.
/// </summary>
public sealed partial class Engine
{
    // Orders "find the image for a new container" against "collect garbage", so a layer cannot be
    // collected between the lookup and the moment the new container counts as a user.
    private readonly Lock _imageUse = new();
    private readonly ConcurrentDictionary<ImageHold, bool> _imageHolds = new();

    /// <summary>The directory holding every container's writable layer (for ImageFsInfo).</summary>
    public string ContainersDir => _state.ContainersDir;

    /// <summary>An image found for a container being made; its layers count as used until disposed.</summary>
    internal sealed class ImageHold(Engine engine, StoredImage image) : IDisposable
    {
        public StoredImage Image => image;

        public void Dispose() => engine._imageHolds.TryRemove(this, out _);
    }

    private ImageHold HoldImage(string reference)
    {
        lock (_imageUse)
        {
            StoredImage image = _images.Find(reference)
                ?? throw new EngineException(EngineErrorKind.NotFound, $"image \"{reference}\" not found: pull it first");
            var hold = new ImageHold(this, image);
            _imageHolds[hold] = true;
            return hold;
        }
    }

    /// <summary>Layer diff ids in use by containers: every known container's and those being made.</summary>
    public IReadOnlySet<string> LayersInUse()
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (ContainerRecord container in _containers.Values)
            used.UnionWith(container.LayerDiffIds.Count > 0 ? container.LayerDiffIds
                : _images.Find(container.ImageId)?.LayerDiffIds ?? []); // a record from before LayerDiffIds was kept
        foreach (ImageHold hold in _imageHolds.Keys)
            used.UnionWith(hold.Image.LayerDiffIds);
        return used;
    }

    /// <summary>
    /// Deletes image layers and blobs nothing uses any more (see <see cref="ImageStore.CollectGarbage"/>).
    /// Called after a container or an image is removed, and at start. Never throws: a failed
    /// collection is logged and the next one tries again.
    /// </summary>
    public ImageGarbage CollectImageGarbage()
    {
        try
        {
            lock (_imageUse)
                return _images.CollectGarbage(LayersInUse());
        }
        catch (Exception e)
        {
            _logger.LogWarning("image garbage collection failed (the next one retries): {Error}", e.Message);
            return new ImageGarbage(0, 0, Deferred: true);
        }
    }
}
