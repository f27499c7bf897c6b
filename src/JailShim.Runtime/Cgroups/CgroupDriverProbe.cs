namespace JailShim.Runtime.Cgroups;

/// <summary>Picks the cgroup driver for the host: pure v1, hybrid, or pure v2.</summary>
public static class CgroupDriverProbe
{
    /// <summary>Reads mountinfo and the own-cgroup file (paths injectable for tests) and picks a driver.</summary>
    public static ICgroupDriver Detect(
        string mountInfoPath = CgroupHost.MountInfoPath,
        string procCgroupPath = CgroupHost.ProcCgroupPath,
        string rootName = CgroupPaths.DefaultRootName) =>
        Detect(CgroupHost.Read(mountInfoPath, procCgroupPath), rootName);

    /// <summary>
    /// v1 when cpu and memory sit on v1 mounts (pure v1, and hybrid hosts whose v2 mount holds
    /// none of them); otherwise v2 over the cgroup2 mount.
    /// </summary>
    public static ICgroupDriver Detect(CgroupHost host, string rootName = CgroupPaths.DefaultRootName)
    {
        if (host.Mounts.Any(m => m.HasV1Controller("cpu")) && host.Mounts.Any(m => m.HasV1Controller("memory")))
            return new CgroupV1Driver(host.Mounts, host.OwnPaths, rootName);

        CgroupMount unified = CgroupV2Driver.FindUnifiedMount(host.Mounts)
            ?? throw new NotSupportedException("no usable cgroups: cpu and memory are not on v1 mounts and no cgroup2 filesystem is mounted");
        string own = host.OwnPaths.GetValueOrDefault(CgroupOwnPaths.Unified)
            ?? throw new NotSupportedException("cgroup2 is mounted but the own-cgroup file has no \"0::\" line");
        return new CgroupV2Driver(unified, own, rootName);
    }
}
