namespace JailShim.Runtime.Images;

public sealed partial class ImageStore
{
    /// <summary>
    /// Removes what <paramref name="reference"/> names. An id (or unique id prefix) removes the image.
    /// A tag removes that tag only, and a repo digest ("name@sha256:...") that digest and the tags of
    /// its repository, while the image keeps other names; the last name removes the image. Blobs and
    /// layers stay until <see cref="CollectGarbage"/>. Returns the image as it was, or null when
    /// nothing matched (CRI: removing what is gone succeeds).
    /// </summary>
    public StoredImage? Remove(string reference)
    {
        lock (_gate)
        using (LockIndex())
        {
            var records = new Dictionary<string, ImageRecord>(Current().Records);
            if (FindRecord(records, reference) is not { } found) return null;
            var (record, kind, name) = found;

            ImageRecord? rest = kind switch
            {
                MatchKind.Tag => Untag(record, name!),
                MatchKind.RepoDigest => UnDigest(record, name!),
                _ => null,
            };
            if (rest is null || (rest.RepoTags.Count == 0 && rest.RepoDigests.Count == 0))
            {
                File.Delete(RecordPath(record.Id));
                AtomicFile.FsyncDir(Path.GetDirectoryName(RecordPath(record.Id))!);
                records.Remove(record.Id);
            }
            else
            {
                WriteRecord(rest);
                records[record.Id] = rest;
            }
            Publish(records);
            return record.ToStoredImage();
        }
    }

    /// <summary>Drops one tag; the repo digest of its repository goes too once no tag of that repository is left.</summary>
    private static ImageRecord Untag(ImageRecord record, ImageReference tag)
    {
        List<string> tags = [.. record.RepoTags.Where(t => t != tag.ToString())];
        bool repoStillTagged = tags.Any(t => ImageReference.Parse(t).Repository == tag.Repository);
        List<string> digests = [.. record.RepoDigests.Where(d => repoStillTagged || !d.StartsWith(tag.Repository + "@", StringComparison.Ordinal))];
        return record with { RepoTags = tags, RepoDigests = digests };
    }

    /// <summary>Drops one repo digest and the tags of its repository (they name the same content).</summary>
    private static ImageRecord UnDigest(ImageRecord record, ImageReference digest) => record with
    {
        RepoDigests = [.. record.RepoDigests.Where(d => d != digest.Repository + "@" + digest.Digest)],
        RepoTags = [.. record.RepoTags.Where(t => ImageReference.Parse(t).Repository != digest.Repository)],
    };
}
