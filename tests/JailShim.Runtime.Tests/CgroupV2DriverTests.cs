using JailShim.Runtime.Cgroups;
using JailShim.Runtime.Interop;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Tests;

/// <summary>The v2 driver over a fake cgroup2 tree: the daemon runs in /system.slice/jailshim.service.</summary>
public sealed class CgroupV2DriverTests : IDisposable
{
    private const string Own = "/system.slice/jailshim.service";
    private readonly CgroupFakeV2Kernel kernel = new();
    private readonly string ownDir;

    public CgroupV2DriverTests()
    {
        kernel.Seed("", "cpuset cpu io memory hugetlb pids rdma misc", "cpuset cpu io memory hugetlb pids");
        kernel.Seed("system.slice", "cpuset cpu io memory hugetlb pids", "cpuset cpu memory hugetlb pids");
        // A delegated service cgroup whose processes sit in a leaf, so it may enable controllers.
        ownDir = kernel.Seed(Own.TrimStart('/'), "cpuset cpu memory hugetlb pids", "cpuset cpu memory hugetlb pids");
    }

    public void Dispose() => kernel.Dispose();

    private CgroupV2Driver Driver(string rootName = "jailshim") => new(kernel.MountRecord, Own, rootName, kernel);

    private string Read(string relative, string file) =>
        File.ReadAllText(Path.Join(ownDir, "jailshim", relative, file)).Trim();

    private static readonly CgroupLimits Full = new()
    {
        CpuShares = 512,
        CpuQuotaUs = 50000,
        CpuPeriodUs = 100000,
        MemoryLimitBytes = 64L << 20,
        PidsLimit = 100,
        CpusetCpus = "0",
        CpusetMems = "0",
    };

    [Fact]
    public void Root_is_own_cgroup_plus_root_name()
    {
        Assert.Equal(Path.Join(ownDir, "jailshim"), Driver().RootDirectory);
        Assert.Equal("v2", Driver().Kind);
    }

    [Fact]
    public void Create_writes_the_converted_limits()
    {
        CgroupV2Driver driver = Driver();
        Cgroup cg = driver.Create("pod/ctr", Full);

        Assert.Equal("pod/ctr", cg.RelativePath);
        Assert.Equal([Path.Join(ownDir, "jailshim/pod/ctr/cgroup.procs")], cg.ProcsFiles);
        Assert.Equal("20", Read("pod/ctr", "cpu.weight")); // 1 + (510 * 9999) / 262142
        Assert.Equal("50000 100000", Read("pod/ctr", "cpu.max"));
        Assert.Equal((64L << 20).ToString(), Read("pod/ctr", "memory.max"));
        Assert.Equal("100", Read("pod/ctr", "pids.max"));
        Assert.Equal("0", Read("pod/ctr", "cpuset.cpus"));
        Assert.Equal("0", Read("pod/ctr", "cpuset.mems"));

        CgroupLimits back = driver.ReadLimits("pod/ctr");
        Assert.Equal(CgroupConvert.WeightToShares(20), back.CpuShares);
        Assert.Equal(50000, back.CpuQuotaUs);
        Assert.Equal(100000, back.CpuPeriodUs);
        Assert.Equal(64L << 20, back.MemoryLimitBytes);
        Assert.Equal(100, back.PidsLimit);
        Assert.Equal("0", back.CpusetCpus);
    }

    [Fact]
    public void Create_enables_only_our_controllers_from_the_root_down_but_not_in_the_leaf()
    {
        Driver().Create("pod/ctr", CgroupLimits.None);

        Assert.Equal("cpu cpuset memory pids", Read("", "cgroup.subtree_control"));
        Assert.Equal("cpu cpuset memory pids", Read("pod", "cgroup.subtree_control"));
        Assert.Equal("", Read("pod/ctr", "cgroup.subtree_control"));
        Assert.Equal("cpu cpuset memory pids", Read("pod/ctr", "cgroup.controllers"));
        // The daemon's own cgroup is not ours: untouched.
        Assert.Equal("cpuset cpu memory hugetlb pids", File.ReadAllText(Path.Join(ownDir, "cgroup.subtree_control")).Trim());
    }

    [Fact]
    public void Nothing_outside_the_root_is_written()
    {
        Dictionary<string, string> before = kernel.Snapshot();
        CgroupV2Driver driver = Driver();
        driver.Create("pod/ctr", Full);
        driver.Create("pod/ctr2", Full with { CpuQuotaUs = -1 });
        driver.Remove("pod/ctr");
        driver.Remove("pod/ctr2");
        driver.Remove("pod");
        driver.Remove("");

        string root = Path.Join(ownDir, "jailshim");
        Assert.NotEmpty(kernel.Writes);
        Assert.All(kernel.Writes, w => Assert.StartsWith(root + "/", w));
        Assert.All(kernel.Mkdirs, d => Assert.True(d == root || d.StartsWith(root + "/"), d));
        Assert.Equal(before, kernel.Snapshot());
    }

    [Fact]
    public void Paths_cannot_leave_the_root()
    {
        CgroupV2Driver driver = Driver();
        Assert.Throws<ArgumentException>(() => driver.Create("../escape", CgroupLimits.None));
        Assert.Throws<ArgumentException>(() => driver.Create("pod/../../escape", CgroupLimits.None));
        Assert.Throws<ArgumentException>(() => driver.Remove(".."));
        Assert.Throws<ArgumentException>(() => Driver("a/b"));
        Assert.Throws<ArgumentException>(() => Driver(".."));
        Assert.Empty(kernel.Mkdirs);
    }

    [Fact]
    public void Unlimited_values_are_written_as_max()
    {
        CgroupV2Driver driver = Driver();
        driver.Create("ctr", new CgroupLimits { CpuQuotaUs = -1, CpuPeriodUs = 100000, MemoryLimitBytes = 0, PidsLimit = -1 });
        Assert.Equal("max 100000", Read("ctr", "cpu.max"));
        Assert.Equal("max", Read("ctr", "memory.max"));
        Assert.Equal("max", Read("ctr", "pids.max"));
        CgroupLimits back = driver.ReadLimits("ctr");
        Assert.Equal(-1, back.CpuQuotaUs);
        Assert.Equal(-1, back.MemoryLimitBytes);
        Assert.Equal(-1, back.PidsLimit);
    }

    [Fact]
    public void A_period_alone_keeps_the_quota_and_a_second_create_is_idempotent()
    {
        CgroupV2Driver driver = Driver();
        driver.Create("ctr", new CgroupLimits { CpuQuotaUs = 50000, CpuPeriodUs = 100000 });
        int writes = kernel.Writes.Count(w => w.EndsWith("cgroup.subtree_control"));
        driver.Create("ctr", new CgroupLimits { CpuPeriodUs = 200000 });
        Assert.Equal("50000 200000", Read("ctr", "cpu.max"));
        Assert.Equal(writes, kernel.Writes.Count(w => w.EndsWith("cgroup.subtree_control")));
    }

    [Fact]
    public void Oom_kill_is_read_from_memory_events()
    {
        CgroupV2Driver driver = Driver();
        driver.Create("ctr", CgroupLimits.None);
        Assert.False(driver.WasOomKilled("ctr"));
        File.WriteAllText(Path.Join(driver.DirectoryOf("ctr"), "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
        Assert.True(driver.WasOomKilled("ctr"));
        Assert.False(driver.WasOomKilled("missing"));
    }

    [Fact]
    public void Pids_come_from_cgroup_procs()
    {
        CgroupV2Driver driver = Driver();
        Cgroup cg = driver.Create("ctr", CgroupLimits.None);
        Assert.Empty(driver.Pids("ctr"));
        File.WriteAllText(cg.ProcsFiles[0], "42\n7\n");
        Assert.Equal([7, 42], driver.Pids("ctr"));
        Assert.Empty(driver.Pids("missing"));
    }

    [Fact]
    public void Remove_is_leaf_only_and_missing_is_fine()
    {
        CgroupV2Driver driver = Driver();
        driver.Create("pod/ctr", CgroupLimits.None);
        var fast = new CgroupV2Driver(kernel.MountRecord, Own, "jailshim", kernel) { RemoveBusyTimeout = TimeSpan.FromMilliseconds(50) };

        var e = Assert.Throws<ErrnoException>(() => fast.Remove("pod"));
        Assert.Equal(EBUSY, e.Errno);
        Assert.Contains("child cgroups (ctr)", e.Message);

        driver.Remove("pod/ctr");
        driver.Remove("pod");
        Assert.False(driver.Exists("pod"));
        driver.Remove("pod"); // already gone
        Assert.True(driver.Exists(""));
    }

    [Fact]
    public void Remove_retries_while_the_kernel_still_holds_the_cgroup()
    {
        CgroupV2Driver driver = Driver();
        driver.Create("ctr", CgroupLimits.None);
        kernel.BusyRemovals = 3;
        driver.Remove("ctr");
        Assert.False(driver.Exists("ctr"));
    }

    [Fact]
    public void Remove_of_a_populated_cgroup_names_its_processes()
    {
        var fast = new CgroupV2Driver(kernel.MountRecord, Own, "jailshim", kernel) { RemoveBusyTimeout = TimeSpan.FromMilliseconds(50) };
        Cgroup cg = fast.Create("ctr", CgroupLimits.None);
        File.WriteAllText(cg.ProcsFiles[0], "4242\n");
        var e = Assert.Throws<ErrnoException>(() => fast.Remove("ctr"));
        Assert.Contains("still holds processes (4242)", e.Message);
    }

    [Fact]
    public void A_limit_whose_controller_is_not_delegated_fails_and_rolls_back()
    {
        // The daemon's parent delegated no memory controller.
        File.WriteAllText(Path.Join(ownDir, "cgroup.subtree_control"), "cpu pids\n");
        CgroupV2Driver driver = Driver();
        var e = Assert.Throws<NotSupportedException>(() => driver.Create("pod/ctr", new CgroupLimits { MemoryLimitBytes = 1 << 20 }));
        Assert.Contains("memory", e.Message);
        Assert.False(driver.Exists(""));

        driver.Create("pod/ctr", new CgroupLimits { PidsLimit = 10 });
        Assert.Equal("cpu pids", Read("pod/ctr", "cgroup.controllers"));
    }

    [Fact]
    public void A_parent_holding_processes_cannot_get_children_and_says_why()
    {
        CgroupV2Driver driver = Driver();
        Cgroup pod = driver.Create("pod", CgroupLimits.None);
        File.WriteAllText(pod.ProcsFiles[0], "99\n"); // the pod's infra process, put in the pod itself
        var e = Assert.Throws<ErrnoException>(() => driver.Create("pod/ctr", CgroupLimits.None));
        Assert.Equal(EBUSY, e.Errno);
        Assert.Contains("leaf", e.Message);
        Assert.False(driver.Exists("pod/ctr"));

        // The v2 way: infra in a leaf of its own, next to the containers.
        File.WriteAllText(pod.ProcsFiles[0], "");
        Cgroup infra = driver.Create("pod/infra", CgroupLimits.None);
        File.WriteAllText(infra.ProcsFiles[0], "99\n");
        driver.Create("pod/ctr", CgroupLimits.None);
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(1, 1)]
    [InlineData(256, 10)]
    [InlineData(512, 20)]
    [InlineData(1024, 39)]
    [InlineData(262144, 10000)]
    [InlineData(1_000_000, 10000)]
    public void Shares_convert_to_weight_like_runc(long shares, long weight)
    {
        Assert.Equal(weight, CgroupConvert.SharesToWeight(shares));
    }

    [Fact]
    public void Weight_to_shares_is_the_smallest_inverse()
    {
        for (long w = 1; w <= 10000; w++)
        {
            long s = CgroupConvert.WeightToShares(w);
            Assert.Equal(w, CgroupConvert.SharesToWeight(s));
            if (s > 2) Assert.Equal(w - 1, CgroupConvert.SharesToWeight(s - 1));
        }
    }

    [Fact]
    public void Zero_shares_leave_the_weight_alone()
    {
        CgroupV2Driver driver = Driver();
        driver.Create("ctr", new CgroupLimits { CpuShares = 0 });
        Assert.Equal("100", Read("ctr", "cpu.weight"));
        Assert.DoesNotContain(kernel.Writes, w => w.EndsWith("cpu.weight"));
    }
}
