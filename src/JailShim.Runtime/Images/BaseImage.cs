using Microsoft.Extensions.Logging;

namespace JailShim.Runtime.Images;

/// <summary>The built-in base image: its name, and making sure the store has it at startup.</summary>
public static class BaseImage
{
    public const string Reference = "jailshim.local/base:latest";

    /// <summary>Returns the stored base image, building it from the host first if the store lacks it.</summary>
    public static async Task<StoredImage> EnsureAsync(ImageStore store, ILogger? logger = null, CancellationToken ct = default)
    {
        if (store.Find(Reference) is { } existing) return existing;
        return await new BaseImageBuilder(logger).BuildAsync(store, ct).ConfigureAwait(false);
    }
}
