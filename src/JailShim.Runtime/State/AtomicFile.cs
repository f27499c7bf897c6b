namespace JailShim.Runtime.State;

/// <summary>
/// Writes a state file so a reader sees the old or the new content, never half: temp file, then rename.
/// No fsync: the rename already protects against a daemon crash, and after a power cut every
/// container is gone anyway, so durability would only cost each RPC a disk flush. (Image store
/// content, which must outlive a power cut, is written with fsync by its own writer.)
/// </summary>
public static class AtomicFile
{
    public static async Task WriteAsync(string path, byte[] content, CancellationToken cancellationToken = default)
    {
        string temp = path + ".tmp";
        await File.WriteAllBytesAsync(temp, content, cancellationToken);
        File.Move(temp, path, overwrite: true);
    }
}
