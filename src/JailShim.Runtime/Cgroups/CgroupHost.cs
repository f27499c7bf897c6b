namespace JailShim.Runtime.Cgroups;

/// <summary>What the host says about cgroups: the mounts and the daemon's own path in each hierarchy.</summary>
public sealed record CgroupHost(IReadOnlyList<CgroupMount> Mounts, IReadOnlyDictionary<string, string> OwnPaths)
{
    public const string MountInfoPath = "/proc/self/mountinfo";
    public const string ProcCgroupPath = "/proc/self/cgroup";

    public static CgroupHost Read(string mountInfoPath = MountInfoPath, string procCgroupPath = ProcCgroupPath) =>
        new(CgroupMount.ParseMountInfo(File.ReadAllText(mountInfoPath)),
            CgroupOwnPaths.Parse(File.ReadAllText(procCgroupPath)));

    /// <summary>
    /// The directory of the daemon's own cgroup under a mount. The own path is absolute in the
    /// hierarchy; a mount whose root is deeper (seen inside containers) shows only the part below it.
    /// </summary>
    public static string OwnDirectory(CgroupMount mount, string ownPath)
    {
        string path = ownPath;
        string root = mount.Root.TrimEnd('/');
        if (root.Length > 0 && (path == root || path.StartsWith(root + "/", StringComparison.Ordinal)))
            path = path[root.Length..];
        path = path.Trim('/');
        return path.Length == 0 ? mount.MountPoint : Path.Join(mount.MountPoint, path);
    }
}
