using System.Runtime.InteropServices;
using JailShim.Runtime.Interop;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Images;

/// <summary>
/// <c>layers/sha256/&lt;diff-id-hex&gt;/fs</c>: each layer unpacked once and shared
/// read-only as an overlayfs lower dir by every container of every image that
/// has it. A layer dir appears only by rename of a finished temp dir, so its
/// existence means it is complete.
/// </summary>
internal sealed class LayerStore(string dir, string tempDir)
{
    public string DirOf(string diffId) => Path.Combine(dir, Digest.Hex(diffId));

    public string FsDirOf(string diffId) => Path.Combine(DirOf(diffId), "fs");

    public bool Has(string diffId) => Directory.Exists(DirOf(diffId));

    /// <summary>The diff ids of every unpacked layer.</summary>
    public IEnumerable<string> List() =>
        Directory.EnumerateDirectories(dir).Select(d => Digest.Sha256Prefix + Path.GetFileName(d)).Where(Digest.IsSha256);

    /// <summary>
    /// Deletes an unpacked layer; true when it was there. It is renamed into tmp/ first, so the
    /// layer vanishes at once and a crash mid-delete leaves only tmp/ leftovers, never a half layer
    /// that looks complete.
    /// </summary>
    public bool Remove(string diffId)
    {
        string final = DirOf(diffId);
        if (!Directory.Exists(final)) return false;
        string doomed = Path.Combine(tempDir, $"gc.{Digest.Hex(diffId)[..12]}.{Guid.NewGuid():N}");
        Directory.Move(final, doomed);
        AtomicFile.FsyncDir(dir);
        // .NET deletes symlinks inside the tree rather than following them.
        Directory.Delete(doomed, recursive: true);
        return true;
    }

    /// <summary>
    /// Makes sure the layer with <paramref name="diffId"/> is unpacked. The tar is
    /// read only when the layer is missing, and its content must hash to the diff id.
    /// Two racing imports of the same layer are fine: the loser's rename fails and its copy is dropped.
    /// </summary>
    public async Task EnsureAsync(string diffId, Func<Stream> openTar, CancellationToken ct)
    {
        string final = DirOf(diffId);
        if (Directory.Exists(final)) return;

        string temp = Path.Combine(tempDir, $"layer.{Digest.Hex(diffId)[..12]}.{Guid.NewGuid():N}");
        string fs = Path.Combine(temp, "fs");
        Directory.CreateDirectory(fs);
        try
        {
            await Task.Run(() =>
            {
                using var hashing = new HashingStream(openTar());
                LayerUnpacker.Unpack(hashing, fs, ct);
                string actual = hashing.Finish();
                if (actual != diffId)
                    throw new InvalidDataException($"layer content is {actual}, expected diff id {diffId}");
                SyncFs(fs);
            }, ct).ConfigureAwait(false);

            try
            {
                Directory.Move(temp, final);
            }
            catch (IOException) when (Directory.Exists(final))
            {
                return; // someone else unpacked the same layer first; ours is deleted below
            }
            AtomicFile.FsyncDir(dir);
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>One syncfs for the whole unpacked tree instead of an fsync per file.</summary>
    private static unsafe void SyncFs(string path)
    {
        int fd = NoFollowWalk.OpenRoot(path);
        try
        {
            if (syncfs(fd) != 0) throw new ErrnoException("syncfs", Marshal.GetLastPInvokeError(), path);
        }
        finally { close(fd); }
    }
}
