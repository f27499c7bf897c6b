using System.Formats.Tar;
using System.Runtime.InteropServices;
using JailShim.Runtime.Interop;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Images;

/// <summary>
/// A file tree assembled from pieces of the host (kept at their host paths,
/// with every symlink on the way reproduced as a symlink) plus a few generated
/// files, written out as a reproducible layer tar: sorted names, one fixed time,
/// no user or group names.
/// </summary>
internal sealed unsafe class HostFileTree
{
    private const int MaxSymlinks = 40; // the kernel's own limit on links followed in one lookup

    private abstract record Node(int Mode, int Uid, int Gid);
    private sealed record DirNode(int Mode, int Uid, int Gid) : Node(Mode, Uid, Gid);
    private sealed record HostFileNode(string HostPath, int Mode, int Uid, int Gid) : Node(Mode, Uid, Gid);
    private sealed record ContentNode(byte[] Content, int Mode) : Node(Mode, 0, 0);
    private sealed record SymlinkNode(string Target, int Uid, int Gid) : Node(0x1FF, Uid, Gid);

    // Keyed by path relative to "/", ordinal order: a parent always sorts before its children.
    private readonly SortedDictionary<string, Node> _nodes = new(StringComparer.Ordinal);

    public int Count => _nodes.Count;

    public bool Contains(string path) => _nodes.ContainsKey(Rel(path));

    /// <summary>A directory owned by root with the given mode; parents are made 0755.</summary>
    public void AddDirectory(string path, int mode)
    {
        AddParents(Rel(path));
        _nodes[Rel(path)] = new DirNode(mode, 0, 0);
    }

    /// <summary>A generated file owned by root.</summary>
    public void AddContent(string path, byte[] content, int mode)
    {
        AddParents(Rel(path));
        _nodes[Rel(path)] = new ContentNode(content, mode);
    }

    /// <summary>
    /// Copies a host path into the tree the way the kernel would resolve it: each
    /// symlink met on the way (/bin -> usr/bin, sh -> dash, libc.so.6 -> libc-2.36.so)
    /// becomes a symlink in the tree and resolution continues at its target, so the
    /// real file lands at its real path and every name that led to it still works.
    /// Returns false when the path (or a link on it) leads nowhere.
    /// </summary>
    public bool AddHostPath(string path)
    {
        var resolved = new List<string>();
        var todo = new LinkedList<string>(path.Split('/'));
        int links = 0;
        while (todo.First is { } first)
        {
            string part = first.Value;
            todo.RemoveFirst();
            if (part is "" or ".") continue;
            if (part == "..")
            {
                if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1);
                continue;
            }

            string rel = string.Join('/', resolved.Append(part));
            if (!TryLstat("/" + rel, out stat st)) return false;
            int type = (int)(ushort)(st.st_mode & S_IFMT);
            int mode = (int)(ushort)st.st_mode & 0xFFF;
            if (type == (ushort)S_IFLNK)
            {
                if (++links > MaxSymlinks) throw new IOException($"too many symlinks resolving {path}");
                string target = new FileInfo("/" + rel).LinkTarget ?? throw new IOException($"cannot read link /{rel}");
                _nodes.TryAdd(rel, new SymlinkNode(target, (int)(uint)st.st_uid, (int)(uint)st.st_gid));
                if (target.StartsWith('/')) resolved.Clear();
                foreach (string t in target.Split('/').Reverse()) todo.AddFirst(t);
                continue;
            }
            if (type == (ushort)S_IFDIR)
            {
                _nodes.TryAdd(rel, new DirNode(mode, (int)(uint)st.st_uid, (int)(uint)st.st_gid));
                resolved.Add(part);
                continue;
            }
            if (type == (ushort)S_IFREG && !todo.Any(p => p is not ("" or ".")))
            {
                _nodes.TryAdd(rel, new HostFileNode("/" + rel, mode, (int)(uint)st.st_uid, (int)(uint)st.st_gid));
                return true;
            }
            return false; // a device, socket, or a file used as a directory: nothing to copy
        }
        return true;
    }

    /// <summary>Writes the tree as a GNU tar; the same tree always gives the same bytes.</summary>
    public void WriteTar(Stream output, DateTimeOffset mtime)
    {
        using var writer = new TarWriter(output, TarEntryFormat.Gnu, leaveOpen: true);
        foreach (var (rel, node) in _nodes)
        {
            var entry = node switch
            {
                DirNode => new GnuTarEntry(TarEntryType.Directory, rel + "/"),
                SymlinkNode link => new GnuTarEntry(TarEntryType.SymbolicLink, rel) { LinkName = link.Target },
                _ => new GnuTarEntry(TarEntryType.RegularFile, rel),
            };
            entry.Mode = (UnixFileMode)node.Mode;
            entry.Uid = node.Uid;
            entry.Gid = node.Gid;
            entry.UserName = "";
            entry.GroupName = "";
            entry.ModificationTime = mtime;
            entry.AccessTime = mtime;
            entry.ChangeTime = mtime;
            using Stream? data = node switch
            {
                HostFileNode file => File.OpenRead(file.HostPath),
                ContentNode content => new MemoryStream(content.Content, writable: false),
                _ => null,
            };
            if (data is not null) entry.DataStream = data;
            writer.WriteEntry(entry);
        }
    }

    private void AddParents(string rel)
    {
        int slash = -1;
        while ((slash = rel.IndexOf('/', slash + 1)) > 0)
            _nodes.TryAdd(rel[..slash], new DirNode(0x1ED, 0, 0));
    }

    private static string Rel(string path) => path.Trim('/');

    private static bool TryLstat(string path, out stat st)
    {
        st = default;
        fixed (byte* p = NoFollowWalk.Z(path))
        fixed (stat* s = &st)
        {
            if (lstat(p, s) == 0) return true;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == ENOENT || errno == ENOTDIR) return false;
            throw new ErrnoException("lstat", errno, path);
        }
    }
}
