using System.Runtime.InteropServices;
using System.Text;
using JailShim.Runtime.Interop;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Images;

/// <summary>
/// Reaches a directory inside a tree one component at a time with openat2
/// (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so a symlink planted in the tree
/// (say <c>l -&gt; /</c>) can never redirect a write to the host.
/// </summary>
internal static unsafe class NoFollowWalk
{
    private const int DirMode = 0x1ED; // 0755, what Docker gives parents a tar did not list

    internal static byte[] Z(string s) => Encoding.UTF8.GetBytes(s + "\0");

    /// <summary>Opens the tree's root itself (trusted: it is our own temp dir).</summary>
    public static int OpenRoot(string path)
    {
        fixed (byte* p = Z(path))
        {
            int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
            if (fd < 0) throw new ErrnoException("open", Marshal.GetLastPInvokeError(), path);
            return fd;
        }
    }

    /// <summary>
    /// Opens <paramref name="parts"/> below <paramref name="rootFd"/> as a directory fd the caller
    /// closes (the root fd itself when parts is empty: do not close that one).
    /// Missing directories are made when <paramref name="create"/> is set.
    /// </summary>
    public static int OpenDir(int rootFd, ReadOnlySpan<string> parts, bool create, string entryName)
    {
        int cur = rootFd;
        try
        {
            for (int i = 0; i < parts.Length; i++)
            {
                int next = OpenChildDir(cur, parts[i]);
                if (next < 0 && Marshal.GetLastPInvokeError() == ENOENT && create)
                {
                    fixed (byte* n = Z(parts[i]))
                    {
                        if (mkdirat(cur, n, (ushort)DirMode) != 0 && Marshal.GetLastPInvokeError() != EEXIST)
                            throw new ErrnoException("mkdirat", Marshal.GetLastPInvokeError(), $"{Shown(parts[..(i + 1)])} for '{entryName}'");
                    }
                    next = OpenChildDir(cur, parts[i]);
                }
                if (next < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    string where = Shown(parts[..(i + 1)]);
                    // O_NOFOLLOW|O_DIRECTORY reports a symlink as ENOTDIR; lstat tells the two apart for the message.
                    bool isLink = errno == ELOOP || errno == EXDEV ||
                        (errno == ENOTDIR && TryLstat(cur, parts[i], out stat st, entryName) && (st.st_mode & S_IFMT) == S_IFLNK);
                    if (isLink)
                        throw new UnsafeLayerEntryException(entryName, $"'{where}' is a symlink; entries are never created through one");
                    if (errno == ENOTDIR)
                        throw new UnsafeLayerEntryException(entryName, $"'{where}' is not a directory");
                    throw new ErrnoException("openat2", errno, $"{where} for '{entryName}'");
                }
                if (cur != rootFd) close(cur);
                cur = next;
            }
            return cur;
        }
        catch
        {
            if (cur != rootFd) close(cur);
            throw;
        }
    }

    /// <summary>One component, never through or onto a symlink; -1 with errno set on failure.</summary>
    public static int OpenChildDir(int dirFd, string name)
    {
        open_how how = new()
        {
            flags = (ulong)(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
            resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        fixed (byte* n = Z(name))
        {
            return openat2(dirFd, n, &how, (size_t)sizeof(open_how));
        }
    }

    /// <summary>lstat of one name in a directory; false when it does not exist.</summary>
    public static bool TryLstat(int dirFd, string name, out stat st, string entryName)
    {
        st = default;
        fixed (byte* n = Z(name))
        fixed (stat* s = &st)
        {
            if (fstatat(dirFd, n, s, AT_SYMLINK_NOFOLLOW) == 0) return true;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == ENOENT) return false;
            throw new ErrnoException("fstatat", errno, $"{name} for '{entryName}'");
        }
    }

    public static string Shown(ReadOnlySpan<string> parts) => string.Join('/', parts.ToArray());
}
