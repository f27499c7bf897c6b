using System.Runtime.InteropServices;
using JailShim.Runtime.Interop;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Images;

/// <summary>Disk space and inodes used under a directory (for CRI ImageFsInfo), counted like du: allocated blocks, hardlinked files once, symlinks not followed.</summary>
public readonly record struct ImageFsUsage(long UsedBytes, long InodesUsed)
{
    public static unsafe ImageFsUsage Measure(string root)
    {
        long bytes = 0, inodes = 0;
        var seen = new HashSet<(ulong Dev, ulong Ino)>();
        var dirs = new Stack<string>();
        if (Visit(root)) dirs.Push(root);
        while (dirs.TryPop(out string? dir))
        {
            List<string> children;
            try { children = [.. Directory.EnumerateFileSystemEntries(dir)]; }
            catch (DirectoryNotFoundException) { continue; } // removed while we walked
            foreach (string child in children)
                if (Visit(child)) dirs.Push(child);
        }
        return new ImageFsUsage(bytes, inodes);

        // Counts one inode (once per dev/ino); true when it is a directory to descend into.
        bool Visit(string path)
        {
            stat st;
            fixed (byte* p = NoFollowWalk.Z(path))
            {
                if (lstat(p, &st) != 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == ENOENT) return false;
                    throw new ErrnoException("lstat", errno, path);
                }
            }
            if (seen.Add(((ulong)st.st_dev, (ulong)st.st_ino)))
            {
                inodes++;
                bytes += (long)st.st_blocks * 512;
            }
            return (st.st_mode & S_IFMT) == S_IFDIR;
        }
    }
}
