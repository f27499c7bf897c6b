using JailShim.Runtime.Cgroups;

namespace JailShim.Runtime.Tests;

/// <summary>Driver selection and root paths from fake mountinfo and /proc/self/cgroup files.</summary>
public sealed class CgroupProbeTests : IDisposable
{
    private readonly DirectoryInfo dir = Directory.CreateTempSubdirectory("jailshim-probe-");

    public void Dispose() => dir.Delete(recursive: true);

    private ICgroupDriver Detect(string mountinfo, string cgroup)
    {
        string m = Path.Join(dir.FullName, "mountinfo"), c = Path.Join(dir.FullName, "cgroup");
        File.WriteAllText(m, mountinfo);
        File.WriteAllText(c, cgroup);
        return CgroupDriverProbe.Detect(m, c, "jailshim");
    }

    // The dev machines: v1 controllers, and a v2 mount that holds no controller we use.
    private const string HybridMountInfo = """
        22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
        37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
        38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw

        """;

    private const string HybridCgroup = """
        9:name=systemd:/
        8:pids:/
        7:blkio:/
        6:freezer:/
        5:devices:/
        4:memory:/process_api/680846c352bfb077958633ad8bf72117
        3:cpuset:/
        2:cpuacct:/
        1:cpu:/
        0::/

        """;

    [Fact]
    public void Hybrid_host_uses_v1_nested_under_each_hierarchys_own_path()
    {
        var driver = Assert.IsType<CgroupV1Driver>(Detect(HybridMountInfo, HybridCgroup));
        Assert.Equal("v1", driver.Kind);
        Assert.Equal("/sys/fs/cgroup/memory/process_api/680846c352bfb077958633ad8bf72117/jailshim", driver.RootDirectories["memory"]);
        Assert.Equal("/sys/fs/cgroup/cpu/jailshim", driver.RootDirectories["cpu"]);
        Assert.Equal("/sys/fs/cgroup/cpuacct/jailshim", driver.RootDirectories["cpuacct"]);
        Assert.Equal("/sys/fs/cgroup/cpuset/jailshim", driver.RootDirectories["cpuset"]);
        Assert.Equal("/sys/fs/cgroup/pids/jailshim", driver.RootDirectories["pids"]);
        Assert.Equal(
            [
                "/sys/fs/cgroup/cpu/jailshim/pod/ctr/cgroup.procs",
                "/sys/fs/cgroup/cpuacct/jailshim/pod/ctr/cgroup.procs",
                "/sys/fs/cgroup/cpuset/jailshim/pod/ctr/cgroup.procs",
                "/sys/fs/cgroup/memory/process_api/680846c352bfb077958633ad8bf72117/jailshim/pod/ctr/cgroup.procs",
                "/sys/fs/cgroup/pids/jailshim/pod/ctr/cgroup.procs",
            ],
            driver.ProcsFiles("pod/ctr"));
    }

    [Fact]
    public void Pure_v2_host_uses_v2_under_the_own_cgroup()
    {
        var driver = Assert.IsType<CgroupV2Driver>(Detect(
            """
            24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
            35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot

            """,
            "0::/system.slice/jailshim.service\n"));
        Assert.Equal("v2", driver.Kind);
        Assert.Equal("/sys/fs/cgroup/system.slice/jailshim.service/jailshim", driver.RootDirectory);
        Assert.Equal(["/sys/fs/cgroup/system.slice/jailshim.service/jailshim/p/c/cgroup.procs"], driver.ProcsFiles("p/c"));
    }

    [Fact]
    public void Pure_v1_host_with_co_mounted_controllers_shares_one_directory_per_hierarchy()
    {
        var driver = Assert.IsType<CgroupV1Driver>(Detect(
            """
            25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
            26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
            28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
            29 25 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory
            30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
            31 25 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,pids
            32 25 0:29 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset,clone_children

            """,
            """
            11:cpuset:/
            10:pids:/system.slice/jailshim.service
            9:net_cls,net_prio:/
            5:memory:/system.slice/jailshim.service
            4:cpu,cpuacct:/system.slice/jailshim.service
            1:name=systemd:/system.slice/jailshim.service

            """));
        Assert.Equal("/sys/fs/cgroup/cpu,cpuacct/system.slice/jailshim.service/jailshim", driver.RootDirectories["cpu"]);
        Assert.Equal(driver.RootDirectories["cpu"], driver.RootDirectories["cpuacct"]);
        Assert.Equal("/sys/fs/cgroup/cpuset/jailshim", driver.RootDirectories["cpuset"]);
        Assert.Equal(4, driver.ProcsFiles("x").Count);
    }

    [Fact]
    public void Container_mounts_show_only_the_part_of_the_own_path_below_their_root()
    {
        // Inside a container without a cgroup namespace: the mount root is the container's cgroup.
        var driver = Assert.IsType<CgroupV1Driver>(Detect(
            """
            700 690 0:29 /docker/abc /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            701 690 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory

            """,
            """
            4:memory:/docker/abc/inner
            1:cpu:/docker/abc

            """));
        Assert.Equal("/sys/fs/cgroup/cpu/jailshim", driver.RootDirectories["cpu"]);
        Assert.Equal("/sys/fs/cgroup/memory/inner/jailshim", driver.RootDirectories["memory"]);
        Assert.False(driver.RootDirectories.ContainsKey("pids"));
    }

    [Fact]
    public void A_limit_for_an_unmounted_controller_is_refused_before_anything_is_made()
    {
        var driver = Assert.IsType<CgroupV1Driver>(Detect(
            "32 31 0:29 / " + dir.FullName + "/cpu rw - cgroup cgroup rw,cpu\n35 31 0:32 / " + dir.FullName + "/memory rw - cgroup cgroup rw,memory\n",
            "4:memory:/\n1:cpu:/\n"));
        Assert.Throws<NotSupportedException>(() => driver.Create("ctr", new CgroupLimits { PidsLimit = 10 }));
        Assert.False(Directory.Exists(Path.Join(dir.FullName, "cpu")));
    }

    [Fact]
    public void No_cgroups_at_all_is_an_error()
    {
        Assert.Throws<NotSupportedException>(() => Detect("22 1 0:21 / /sys rw - sysfs sysfs rw\n", "0::/\n"));
    }

    [Fact]
    public void Mountinfo_octal_escapes_are_decoded()
    {
        var mounts = CgroupMount.ParseMountInfo("41 31 0:38 / /mnt/my\\040cgroups rw,relatime - cgroup2 cgroup2 rw\n");
        Assert.Equal("/mnt/my cgroups", Assert.Single(mounts).MountPoint);
    }

    [Fact]
    public void This_host_is_detected()
    {
        // The dev machines are hybrid; a pure v2 CI host picks v2. Either way it must not throw.
        ICgroupDriver driver = CgroupDriverProbe.Detect();
        Assert.Contains(driver.Kind, new[] { "v1", "v2" });
    }
}
