namespace JailShim.Runtime.Images;

/// <summary>
/// The on-disk index entry <c>images/&lt;config-hex&gt;.json</c>. It is written
/// last in an import, so an image exists exactly when its record does; the
/// blobs and layers it names are already in place by then.
/// </summary>
internal sealed record ImageRecord
{
    public const int CurrentSchema = 1;

    public int Schema { get; init; } = CurrentSchema;
    public required string Id { get; init; }
    public IReadOnlyList<string> RepoTags { get; init; } = [];
    public IReadOnlyList<string> RepoDigests { get; init; } = [];
    public required string ManifestDigest { get; init; }

    /// <summary>Uncompressed layer digests, bottom first: the keys of <c>layers/sha256/</c>.</summary>
    public IReadOnlyList<string> LayerDiffIds { get; init; } = [];

    /// <summary>Layer blob digests, bottom first (equal to the diff ids for uncompressed layers); what garbage collection of blobs will follow.</summary>
    public IReadOnlyList<string> LayerDigests { get; init; } = [];

    public long Size { get; init; }
    public ImageConfig Config { get; init; } = new();

    /// <summary>Every blob this image needs: garbage collection keeps exactly these (and drops blobs no record names).</summary>
    public IEnumerable<string> Blobs() => [Id, ManifestDigest, .. LayerDigests];

    public StoredImage ToStoredImage() => new(Id, RepoTags, RepoDigests, Size, Config, LayerDiffIds, ManifestDigest);
}
