using System.Formats.Tar;
using System.Runtime.InteropServices;
using JailShim.Runtime.Interop;
using Microsoft.Win32.SafeHandles;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Images;

/// <summary>
/// Extracts an uncompressed layer tar into a directory, in the form overlayfs
/// reads as a lower layer: OCI whiteouts become overlay whiteouts (0/0 char
/// devices) and opaque markers become <c>trusted.overlay.opaque=y</c>.
/// A layer is hostile input: every entry is created with *at calls relative
/// to a directory reached without following any symlink, names that leave the
/// layer are refused, and owners, modes and times are kept (needs root).
/// </summary>
public static unsafe class LayerUnpacker
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueMarker = ".wh..wh..opq";
    private const string OpaqueXattr = "trusted.overlay.opaque";

    /// <summary>Unpacks <paramref name="tar"/> into the existing, empty <paramref name="targetDir"/>. On failure the dir is partly written: callers unpack into a temp dir.</summary>
    public static void Unpack(Stream tar, string targetDir, CancellationToken ct = default)
    {
        int rootFd = NoFollowWalk.OpenRoot(targetDir);
        try
        {
            var dirTimes = new List<(string[] Parts, DateTimeOffset MTime, string Entry)>();
            using var reader = new TarReader(tar, leaveOpen: true);
            while (reader.GetNextEntry(copyData: false) is { } entry)
            {
                ct.ThrowIfCancellationRequested();
                if (entry.EntryType == TarEntryType.GlobalExtendedAttributes) continue;
                var parts = LayerPath.Split(entry.Name, entry.Name);
                if (parts.Length > 0 && parts[^1].StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
                    ApplyWhiteout(rootFd, targetDir, parts, entry);
                else if (parts.Length == 0)
                    ApplyRoot(rootFd, entry, dirTimes);
                else
                    Create(rootFd, targetDir, parts, entry, dirTimes);
            }

            // Directory times last: creating children bumps a directory's mtime. Deepest first.
            foreach (var (parts, mtime, name) in dirTimes.OrderByDescending(d => d.Parts.Length))
            {
                int fd = NoFollowWalk.OpenDir(rootFd, parts, create: false, name);
                try { SetTimes(fd, mtime, name); }
                finally { if (fd != rootFd) close(fd); }
            }
        }
        finally
        {
            close(rootFd);
        }
    }

    private static void ApplyRoot(int rootFd, TarEntry entry, List<(string[], DateTimeOffset, string)> dirTimes)
    {
        if (entry.EntryType != TarEntryType.Directory)
            throw new UnsafeLayerEntryException(entry.Name, "the layer root can only be a directory");
        SetOwnerAndMode(rootFd, entry);
        dirTimes.Add(([], entry.ModificationTime, entry.Name));
    }

    private static void Create(int rootFd, string root, string[] parts, TarEntry entry, List<(string[], DateTimeOffset, string)> dirTimes)
    {
        string name = parts[^1];
        int parentFd = NoFollowWalk.OpenDir(rootFd, parts.AsSpan(0, parts.Length - 1), create: true, entry.Name);
        try
        {
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    CreateDirectory(parentFd, root, parts, entry);
                    dirTimes.Add((parts, entry.ModificationTime, entry.Name));
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    RemoveExisting(parentFd, root, parts, entry.Name);
                    CreateFile(parentFd, name, entry);
                    break;
                case TarEntryType.SymbolicLink:
                    RemoveExisting(parentFd, root, parts, entry.Name);
                    CreateSymlink(parentFd, name, entry);
                    break;
                case TarEntryType.HardLink:
                    CreateHardLink(rootFd, parentFd, root, parts, entry);
                    break;
                case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                    RemoveExisting(parentFd, root, parts, entry.Name);
                    CreateNode(parentFd, name, entry);
                    break;
                default:
                    throw new UnsafeLayerEntryException(entry.Name, $"unsupported entry type {entry.EntryType}");
            }
        }
        finally
        {
            if (parentFd != rootFd) close(parentFd);
        }
    }

    private static void CreateDirectory(int parentFd, string root, string[] parts, TarEntry entry)
    {
        string name = parts[^1];
        // An existing directory is merged into (tar semantics); anything else there is replaced.
        if (!NoFollowWalk.TryLstat(parentFd, name, out stat st, entry.Name) || (st.st_mode & S_IFMT) != S_IFDIR)
        {
            RemoveExisting(parentFd, root, parts, entry.Name);
            fixed (byte* n = NoFollowWalk.Z(name))
            {
                if (mkdirat(parentFd, n, (ushort)0x1C0) != 0)
                    throw new ErrnoException("mkdirat", Marshal.GetLastPInvokeError(), entry.Name);
            }
        }
        int fd = NoFollowWalk.OpenChildDir(parentFd, name);
        if (fd < 0) throw new ErrnoException("openat2", Marshal.GetLastPInvokeError(), entry.Name);
        try { SetOwnerAndMode(fd, entry); }
        finally { close(fd); }
    }

    private static void CreateFile(int parentFd, string name, TarEntry entry)
    {
        int fd;
        fixed (byte* n = NoFollowWalk.Z(name))
        {
            // O_EXCL|O_NOFOLLOW: the name was just cleared, so this makes a new inode and never writes through a link.
            fd = openat(parentFd, n, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (ushort)0x180);
            if (fd < 0) throw new ErrnoException("openat", Marshal.GetLastPInvokeError(), entry.Name);
        }
        // The stream owns the fd from here on: metadata goes on before it is disposed.
        using var file = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Write, bufferSize: 0);
        entry.DataStream?.CopyTo(file, 1 << 16);
        SetOwnerAndMode(fd, entry);
        SetTimes(fd, entry.ModificationTime, entry.Name);
    }

    private static void CreateSymlink(int parentFd, string name, TarEntry entry)
    {
        fixed (byte* target = NoFollowWalk.Z(entry.LinkName))
        fixed (byte* n = NoFollowWalk.Z(name))
        {
            // The target is stored as text and never resolved here; "l -> /" is harmless until something follows it.
            if (symlinkat(target, parentFd, n) != 0)
                throw new ErrnoException("symlinkat", Marshal.GetLastPInvokeError(), entry.Name);
        }
        ChownAt(parentFd, name, entry);
        SetTimesAt(parentFd, name, entry.ModificationTime, entry.Name);
    }

    private static void CreateHardLink(int rootFd, int parentFd, string root, string[] parts, TarEntry entry)
    {
        string[] target;
        try
        {
            target = LayerPath.Split(entry.LinkName, entry.Name);
        }
        catch (UnsafeLayerEntryException)
        {
            throw new UnsafeLayerEntryException(entry.Name, $"hardlink target '{entry.LinkName}' is outside the layer");
        }
        if (target.Length == 0) throw new UnsafeLayerEntryException(entry.Name, "hardlink to the layer root");
        if (target.AsSpan().SequenceEqual(parts)) return; // a link to itself: nothing to do

        int targetDirFd = NoFollowWalk.OpenDir(rootFd, target.AsSpan(0, target.Length - 1), create: false, entry.Name);
        try
        {
            if (!NoFollowWalk.TryLstat(targetDirFd, target[^1], out stat st, entry.Name))
                throw new UnsafeLayerEntryException(entry.Name, $"hardlink target '{entry.LinkName}' is not in the layer (yet)");
            if ((st.st_mode & S_IFMT) == S_IFDIR)
                throw new UnsafeLayerEntryException(entry.Name, $"hardlink target '{entry.LinkName}' is a directory");
            RemoveExisting(parentFd, root, parts, entry.Name);
            fixed (byte* from = NoFollowWalk.Z(target[^1]))
            fixed (byte* to = NoFollowWalk.Z(parts[^1]))
            {
                // flags 0: a link to a symlink links the symlink itself, never what it points at.
                if (linkat(targetDirFd, from, parentFd, to, 0) != 0)
                    throw new ErrnoException("linkat", Marshal.GetLastPInvokeError(), $"{entry.Name} -> {entry.LinkName}");
            }
        }
        finally
        {
            if (targetDirFd != rootFd) close(targetDirFd);
        }
    }

    private static void CreateNode(int parentFd, string name, TarEntry entry)
    {
        mode_t type = entry.EntryType switch
        {
            TarEntryType.CharacterDevice => S_IFCHR,
            TarEntryType.BlockDevice => S_IFBLK,
            _ => S_IFIFO,
        };
        ulong dev = 0;
        if (entry is PosixTarEntry posix && entry.EntryType != TarEntryType.Fifo)
            dev = MakeDev((uint)posix.DeviceMajor, (uint)posix.DeviceMinor);
        MakeNode(parentFd, name, type, dev, entry.Name);
        ChownAt(parentFd, name, entry);
        fixed (byte* n = NoFollowWalk.Z(name))
        {
            // mknod honours the umask; set the mode the tar asked for afterwards (after chown, which clears set-id bits).
            if (fchmodat(parentFd, n, (ushort)(int)entry.Mode, 0) != 0)
                throw new ErrnoException("fchmodat", Marshal.GetLastPInvokeError(), entry.Name);
        }
        SetTimesAt(parentFd, name, entry.ModificationTime, entry.Name);
    }

    /// <summary>".wh.NAME" hides NAME in lower layers (overlay: a 0/0 char device); ".wh..wh..opq" hides a whole lower directory (overlay: opaque xattr).</summary>
    private static void ApplyWhiteout(int rootFd, string root, string[] parts, TarEntry entry)
    {
        string marker = parts[^1];
        var dirParts = parts.AsSpan(0, parts.Length - 1);
        int dirFd = NoFollowWalk.OpenDir(rootFd, dirParts, create: true, entry.Name);
        try
        {
            if (marker == OpaqueMarker)
            {
                // lsetxattr takes a path; it is safe here because OpenDir just checked every component is a real directory in our private temp tree.
                string dirPath = Path.Join(root, NoFollowWalk.Shown(dirParts));
                if (MissingCalls.LSetXattr(dirPath, OpaqueXattr, "y"u8.ToArray(), 1, 0) != 0)
                    throw new ErrnoException("lsetxattr", Marshal.GetLastPInvokeError(), $"{OpaqueXattr} on '{entry.Name}'");
                return;
            }
            if (marker.StartsWith(WhiteoutPrefix + WhiteoutPrefix, StringComparison.Ordinal))
                return; // other AUFS bookkeeping (.wh..wh.plnk and friends) means nothing to overlayfs
            string hidden = marker[WhiteoutPrefix.Length..];
            if (hidden.Length == 0) throw new UnsafeLayerEntryException(entry.Name, "whiteout without a name");
            string[] hiddenParts = [.. dirParts, hidden];
            RemoveExisting(dirFd, root, hiddenParts, entry.Name);
            MakeNode(dirFd, hidden, S_IFCHR, 0, entry.Name);
            ChownAt(dirFd, hidden, entry);
        }
        finally
        {
            if (dirFd != rootFd) close(dirFd);
        }
    }

    /// <summary>Clears a name so a later entry can replace an earlier one (tar semantics). Directories go whole.</summary>
    private static void RemoveExisting(int parentFd, string root, string[] parts, string entryName)
    {
        string name = parts[^1];
        if (!NoFollowWalk.TryLstat(parentFd, name, out stat st, entryName)) return;
        if ((st.st_mode & S_IFMT) == S_IFDIR)
        {
            // Recursive delete by path is safe: every parent was just reached without a symlink, and .NET
            // removes symlinks inside the tree rather than following them.
            Directory.Delete(Path.Join(root, NoFollowWalk.Shown(parts)), recursive: true);
            return;
        }
        fixed (byte* n = NoFollowWalk.Z(name))
        {
            if (unlinkat(parentFd, n, 0) != 0)
                throw new ErrnoException("unlinkat", Marshal.GetLastPInvokeError(), entryName);
        }
    }

    private static void MakeNode(int dirFd, string name, mode_t type, ulong dev, string entryName)
    {
        fixed (byte* n = NoFollowWalk.Z(name))
        {
            if (mknodat(dirFd, n, type, dev) != 0)
                throw new ErrnoException("mknodat", Marshal.GetLastPInvokeError(), entryName);
        }
    }

    private static void SetOwnerAndMode(int fd, TarEntry entry)
    {
        // chown first: it clears set-id bits, which the chmod then puts back.
        if (fchown(fd, (uint)entry.Uid, (uint)entry.Gid) != 0)
            throw new ErrnoException("fchown", Marshal.GetLastPInvokeError(), entry.Name);
        if (fchmod(fd, (ushort)(int)entry.Mode) != 0)
            throw new ErrnoException("fchmod", Marshal.GetLastPInvokeError(), entry.Name);
    }

    private static void ChownAt(int dirFd, string name, TarEntry entry)
    {
        fixed (byte* n = NoFollowWalk.Z(name))
        {
            if (fchownat(dirFd, n, (uint)entry.Uid, (uint)entry.Gid, AT_SYMLINK_NOFOLLOW) != 0)
                throw new ErrnoException("fchownat", Marshal.GetLastPInvokeError(), entry.Name);
        }
    }

    private static void SetTimes(int fd, DateTimeOffset mtime, string entryName)
    {
        timespec* times = stackalloc timespec[2];
        times[0] = times[1] = ToTimespec(mtime);
        if (futimens(fd, times) != 0)
            throw new ErrnoException("futimens", Marshal.GetLastPInvokeError(), entryName);
    }

    private static void SetTimesAt(int dirFd, string name, DateTimeOffset mtime, string entryName)
    {
        timespec* times = stackalloc timespec[2];
        times[0] = times[1] = ToTimespec(mtime);
        fixed (byte* n = NoFollowWalk.Z(name))
        {
            if (utimensat(dirFd, n, times, AT_SYMLINK_NOFOLLOW) != 0)
                throw new ErrnoException("utimensat", Marshal.GetLastPInvokeError(), entryName);
        }
    }

    private static timespec ToTimespec(DateTimeOffset t)
    {
        long ticks = t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rest);
        if (rest < 0) { seconds--; rest += TimeSpan.TicksPerSecond; }
        return new timespec { tv_sec = seconds, tv_nsec = (long_t)(rest * 100) };
    }

    /// <summary>glibc's makedev: 12 bits of major and 20 of minor, split around the low byte.</summary>
    internal static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) |
        ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);
}
