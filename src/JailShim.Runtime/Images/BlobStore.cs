namespace JailShim.Runtime.Images;

/// <summary>A blob's address and length, as an OCI descriptor names it.</summary>
internal readonly record struct BlobInfo(string Digest, long Size);

/// <summary>
/// <c>blobs/sha256/&lt;hex&gt;</c>: content-addressed, immutable files. A blob
/// becomes visible only after its bytes are on disk and match their digest.
/// </summary>
internal sealed class BlobStore(string dir, string tempDir)
{
    public string PathOf(string digest) => Path.Combine(dir, Digest.Hex(digest));

    public bool Has(string digest) => File.Exists(PathOf(digest));

    public Stream Open(string digest) =>
        new FileStream(PathOf(digest), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);

    /// <summary>The digests of every stored blob (names that are not digests are not ours and are skipped).</summary>
    public IEnumerable<string> List() =>
        Directory.EnumerateFiles(dir).Select(f => Digest.Sha256Prefix + Path.GetFileName(f)).Where(Digest.IsSha256);

    /// <summary>Deletes a blob; true when it was there.</summary>
    public bool Remove(string digest)
    {
        string path = PathOf(digest);
        if (!File.Exists(path)) return false;
        File.Delete(path);
        return true;
    }

    public BlobInfo Write(ReadOnlySpan<byte> content)
    {
        string digest = Digest.Of(content);
        if (!Has(digest)) AtomicFile.Write(PathOf(digest), content, tempDir);
        return new BlobInfo(digest, content.Length);
    }

    /// <summary>
    /// Copies a stream into the store. When the caller knows the digest (a
    /// registry manifest names it) the content must match it and the size, and a
    /// blob already present is not read again.
    /// </summary>
    public async Task<BlobInfo> WriteAsync(Stream content, string? expectedDigest, long? expectedSize, CancellationToken ct)
    {
        if (expectedDigest is not null && Has(expectedDigest))
            return new BlobInfo(expectedDigest, new FileInfo(PathOf(expectedDigest)).Length);

        string tmp = Path.Combine(tempDir, $"blob.{Guid.NewGuid():N}.tmp");
        try
        {
            string digest;
            long size;
            await using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            await using (var hashing = new HashingStream(content, leaveOpen: true))
            {
                await hashing.CopyToAsync(file, ct).ConfigureAwait(false);
                digest = hashing.Finish();
                size = hashing.BytesRead;
                file.Flush(flushToDisk: true);
            }
            if (expectedSize is long want && want != size)
                throw new InvalidDataException($"blob {expectedDigest ?? digest}: expected {want} bytes, got {size}");
            if (expectedDigest is not null && expectedDigest != digest)
                throw new InvalidDataException($"blob digest mismatch: expected {expectedDigest}, content is {digest}");
            // Same bytes may already be stored (same layer in two images): the rename just replaces them with themselves.
            AtomicFile.Commit(tmp, PathOf(digest));
            return new BlobInfo(digest, size);
        }
        finally
        {
            File.Delete(tmp);
        }
    }
}
