namespace JailShim.Runtime.Images;

/// <summary>An image in the store, as callers see it.</summary>
/// <param name="Id">"sha256:&lt;hex&gt;", the digest of the image config (Docker/containerd image id).</param>
/// <param name="RepoTags">Normalized "domain/path:tag" names pointing at this image.</param>
/// <param name="RepoDigests">"domain/path@sha256:&lt;manifest digest&gt;".</param>
/// <param name="Size">Sum of the layer blob sizes, in bytes.</param>
/// <param name="LayerDiffIds">Digests of the uncompressed layer tars, bottom layer first.</param>
/// <param name="ManifestDigest">Digest of the OCI manifest blob that ties config and layers together.</param>
public sealed record StoredImage(
    string Id,
    IReadOnlyList<string> RepoTags,
    IReadOnlyList<string> RepoDigests,
    long Size,
    ImageConfig Config,
    IReadOnlyList<string> LayerDiffIds,
    string ManifestDigest);
