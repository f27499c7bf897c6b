using System.Runtime.InteropServices;
using System.Text;
using JailShim.Runtime.Interop;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Images;

/// <summary>
/// Durable replace-by-rename: a reader (or a daemon restarting after a crash)
/// sees either the old file or the whole new one, never a torn write.
/// </summary>
internal static unsafe class AtomicFile
{
    /// <summary>Writes <paramref name="data"/> to a temp file in <paramref name="tempDir"/> (same filesystem), fsyncs it, renames it over <paramref name="path"/> and fsyncs the directory.</summary>
    public static void Write(string path, ReadOnlySpan<byte> data, string tempDir)
    {
        string tmp = Path.Combine(tempDir, $"{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                fs.Write(data);
                fs.Flush(flushToDisk: true);
            }
            Commit(tmp, path);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }

    /// <summary>Renames a finished, already-synced temp file into place and makes the rename itself durable.</summary>
    public static void Commit(string tempPath, string path)
    {
        File.Move(tempPath, path, overwrite: true);
        FsyncDir(Path.GetDirectoryName(path)!);
    }

    /// <summary>fsyncs a directory so a rename or create inside it survives a power cut.</summary>
    public static void FsyncDir(string dir)
    {
        fixed (byte* p = Encoding.UTF8.GetBytes(dir + "\0"))
        {
            int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
            if (fd < 0) throw new ErrnoException("open", Marshal.GetLastPInvokeError(), dir);
            try
            {
                if (fsync(fd) != 0) throw new ErrnoException("fsync", Marshal.GetLastPInvokeError(), dir);
            }
            finally { close(fd); }
        }
    }
}
