namespace JailShim.Runtime.State;

/// <summary>Writes a file so a reader sees the old or the new content, never half: temp file, fsync, rename.</summary>
public static class AtomicFile
{
    public static async Task WriteAsync(string path, byte[] content, CancellationToken cancellationToken = default)
    {
        string temp = path + ".tmp";
        await using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 4096,
                         FileOptions.Asynchronous))
        {
            await stream.WriteAsync(content, cancellationToken);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}
