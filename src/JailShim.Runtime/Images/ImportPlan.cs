namespace JailShim.Runtime.Images;

/// <summary>One image found on disk, ready to import: its config, where its layers are, what to call it.</summary>
/// <param name="Config">The image config's bytes, already checked against its digest where the source names one.</param>
/// <param name="Layers">Bottom layer first.</param>
/// <param name="Tags">Names to give it (may be empty: the image is then found by id only).</param>
/// <param name="ManifestDigest">The digest the source gives the image (an OCI layout's index entry), for repo_digests; null for none.</param>
internal sealed record ImportPlan(byte[] Config, IReadOnlyList<ImportLayer> Layers, IReadOnlyList<string> Tags, string? ManifestDigest)
{
    /// <summary>The image id the import will have: the config's digest.</summary>
    public string Id => Digest.Of(Config);
}

/// <summary>A layer file in the source, possibly compressed; with the digest and size the source promises for it, when it does.</summary>
internal sealed record ImportLayer(string Path, string? Digest, long? Size);
