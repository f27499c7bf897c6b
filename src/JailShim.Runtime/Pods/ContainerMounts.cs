using JailShim.Runtime.Shim;
using JailShim.Runtime.Specs;

namespace JailShim.Runtime.Pods;

/// <summary>
/// The mount policy of a container, written as shim ops: overlay root, the
/// kernel filesystems, a minimal /dev, the pod's /etc files, the request's
/// binds, then pivot_root.
/// </summary>
public static class ContainerMounts
{
    private static readonly (string Name, int Major, int Minor)[] Devices =
        [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

    /// <summary>Kernel files a container must not read or change (the list containerd and CRI-O mask).</summary>
    private static readonly string[] MaskedPaths =
        ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
         "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"];

    private static readonly string[] ReadOnlyPaths =
        ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    public static void Add(ShimSpec spec, string rootfs, IReadOnlyList<string> lowerDirs, string upper, string work,
        string sandboxDir, IReadOnlyList<MountSpec> mounts, string workingDir, bool readOnlyRootfs, bool privileged)
    {
        string In(string path) => rootfs + path;

        spec.Add("rootfs", rootfs);
        spec.Mount("overlay", rootfs, "overlay", "",
            $"lowerdir={string.Join(':', lowerDirs)},upperdir={upper},workdir={work}");
        spec.Mount("proc", In("/proc"), "proc", "nosuid,nodev,noexec");
        spec.Mount("tmpfs", In("/dev"), "tmpfs", "nosuid,strictatime", "mode=755,size=65536k");
        foreach (var (name, major, minor) in Devices)
            spec.CharDevice(In("/dev/" + name), 0x1b6, major, minor);
        spec.Mount("devpts", In("/dev/pts"), "devpts", "nosuid,noexec", "newinstance,ptmxmode=0666,mode=0620");
        spec.Symlink("pts/ptmx", In("/dev/ptmx"));
        spec.Mount("shm", In("/dev/shm"), "tmpfs", "nosuid,nodev,noexec", "mode=1777,size=65536k");
        spec.Mount("mqueue", In("/dev/mqueue"), "mqueue", "nosuid,nodev,noexec");
        spec.Symlink("/proc/self/fd", In("/dev/fd"));
        spec.Symlink("/proc/self/fd/0", In("/dev/stdin"));
        spec.Symlink("/proc/self/fd/1", In("/dev/stdout"));
        spec.Symlink("/proc/self/fd/2", In("/dev/stderr"));
        spec.Mount("sysfs", In("/sys"), "sysfs", privileged ? "nosuid,nodev,noexec" : "nosuid,nodev,noexec,ro");

        foreach (string file in new[] { SandboxFiles.Hosts, SandboxFiles.Hostname, SandboxFiles.ResolvConf })
            spec.Mount(Path.Combine(sandboxDir, file), In("/etc/" + file), "", "bind");

        foreach (MountSpec mount in mounts)
            spec.Mount(mount.HostPath, In(mount.ContainerPath), "", mount.ReadOnly ? "bind,rec,ro" : "bind,rec");

        if (!privileged)
        {
            // The container's /proc and /sys show the same kernel as the host's, so the host tells file from dir.
            foreach (string path in MaskedPaths)
            {
                if (Directory.Exists(path)) spec.Mount("tmpfs", In(path), "tmpfs", "ro,nosuid,nodev,noexec");
                else if (File.Exists(path)) spec.Mount("/dev/null", In(path), "", "bind");
            }
            foreach (string path in ReadOnlyPaths.Where(Path.Exists))
                spec.Mount(In(path), In(path), "", "bind,rec,ro,nosuid,nodev,noexec");
        }

        if (workingDir != "/") spec.Mkdir(In(workingDir), 0x1ed); // as runc does, a missing working dir is made
        spec.Add("op-pivot-root", rootfs);
        if (readOnlyRootfs) spec.Add("op-remount-ro", "/");
    }
}
