using System.Diagnostics;
using JailShim.Runtime.Cgroups;
using JailShim.Runtime.Interop;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Tests;

/// <summary>
/// The v1 driver on the real host, under a root of its own ("jailshim-test-&lt;random&gt;") inside
/// the test process's own cgroups. Writes only to cgroups it made; cleans up even on failure.
/// </summary>
public sealed class CgroupV1DriverHostTests : IDisposable
{
    private readonly CgroupV1Driver driver = CgroupV1Driver.ForHost("jailshim-test-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly List<Process> processes = [];

    public void Dispose()
    {
        foreach (Process p in processes)
        {
            try { if (!p.HasExited) { p.Kill(); p.WaitForExit(5000); } } catch (InvalidOperationException) { }
            p.Dispose();
        }
        // Everything under our unique root is ours: remove it deepest first, in every hierarchy.
        foreach (string root in driver.RootDirectories.Values.Distinct())
        {
            if (!Directory.Exists(root)) continue;
            var dirs = Directory.GetDirectories(root, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(root);
            foreach (string d in dirs)
            {
                try { CgroupFs.Kernel.RemoveLeaf(d, TimeSpan.FromSeconds(2)); } catch (ErrnoException) { }
            }
        }
    }

    private Process Start(string file, params string[] args)
    {
        Process p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true })!;
        processes.Add(p);
        return p;
    }

    private static void Join(Cgroup cgroup, int pid)
    {
        foreach (string procs in cgroup.ProcsFiles) Sys.WriteKernelFile(procs, pid.ToString());
    }

    private string Read(string controller, string relative, string file) =>
        File.ReadAllText(Path.Join(driver.DirectoryOf(controller, relative), file)).Trim();

    [CgroupV1HostFact]
    public void Create_limit_join_and_remove_for_real()
    {
        string[] controllers = ["cpu", "cpuacct", "cpuset", "memory", "pids"];
        Assert.All(controllers, c => Assert.True(driver.RootDirectories.ContainsKey(c), c));

        Cgroup cg = driver.Create("pod/ctr", new CgroupLimits
        {
            CpuShares = 512,
            CpuQuotaUs = 50000,
            CpuPeriodUs = 100000,
            MemoryLimitBytes = 64L << 20,
            PidsLimit = 100,
            CpusetCpus = "0",
        });
        Assert.Equal(5, cg.ProcsFiles.Count);

        Assert.Equal("512", Read("cpu", "pod/ctr", "cpu.shares"));
        Assert.Equal("50000", Read("cpu", "pod/ctr", "cpu.cfs_quota_us"));
        Assert.Equal("100000", Read("cpu", "pod/ctr", "cpu.cfs_period_us"));
        Assert.Equal((64L << 20).ToString(), Read("memory", "pod/ctr", "memory.limit_in_bytes"));
        Assert.Equal("100", Read("pids", "pod/ctr", "pids.max"));
        Assert.Equal("0", Read("cpuset", "pod/ctr", "cpuset.cpus"));
        // Each new cpuset dir, parents included, got the parent's cpus and mems.
        string ownCpuset = Path.GetDirectoryName(driver.RootDirectories["cpuset"])!;
        string ownMems = File.ReadAllText(Path.Join(ownCpuset, "cpuset.mems")).Trim();
        Assert.Equal(File.ReadAllText(Path.Join(ownCpuset, "cpuset.cpus")).Trim(), Read("cpuset", "", "cpuset.cpus"));
        Assert.Equal(File.ReadAllText(Path.Join(ownCpuset, "cpuset.cpus")).Trim(), Read("cpuset", "pod", "cpuset.cpus"));
        Assert.Equal(ownMems, Read("cpuset", "pod/ctr", "cpuset.mems"));

        CgroupLimits back = driver.ReadLimits("pod/ctr");
        Assert.Equal(512, back.CpuShares);
        Assert.Equal(50000, back.CpuQuotaUs);
        Assert.Equal(100000, back.CpuPeriodUs);
        Assert.Equal(64L << 20, back.MemoryLimitBytes);
        Assert.Equal(100, back.PidsLimit);
        Assert.Equal("0", back.CpusetCpus);
        Assert.Equal(-1, driver.ReadLimits("pod").MemoryLimitBytes);
        Assert.Equal(-1, driver.ReadLimits("pod").PidsLimit);

        Process sleep = Start("/bin/sleep", "30");
        Join(cg, sleep.Id);
        Assert.Equal([sleep.Id], driver.Pids("pod/ctr"));
        Assert.Empty(driver.Pids("pod"));
        string procCgroup = File.ReadAllText($"/proc/{sleep.Id}/cgroup");
        Assert.Contains($":memory:", procCgroup);
        Assert.Contains($"/{driver.RootName}/pod/ctr\n", procCgroup);
        Assert.False(driver.WasOomKilled("pod/ctr"));

        CgroupHost host = CgroupHost.Read();
        var fast = new CgroupV1Driver(host.Mounts, host.OwnPaths, driver.RootName) { RemoveBusyTimeout = TimeSpan.FromMilliseconds(200) };
        var busy = Assert.Throws<ErrnoException>(() => fast.Remove("pod/ctr"));
        Assert.Equal(EBUSY, busy.Errno);
        Assert.Contains($"still holds processes ({sleep.Id})", busy.Message);
        var parent = Assert.Throws<ErrnoException>(() => fast.Remove("pod"));
        Assert.Contains("child cgroups (ctr)", parent.Message);

        sleep.Kill();
        sleep.WaitForExit();

        // Straight after the exit: Remove waits out the kernel's short EBUSY window.
        driver.Remove("pod/ctr");
        driver.Remove("pod");
        driver.Remove("");
        foreach (string root in driver.RootDirectories.Values)
        {
            Assert.False(Directory.Exists(root), root);
            Assert.True(Directory.Exists(Path.GetDirectoryName(root)), "own cgroup still there");
        }
        Assert.False(driver.Exists(""));
        Assert.Empty(driver.Pids("pod/ctr"));
        driver.Remove("pod/ctr"); // missing is fine
    }

    [CgroupV1HostFact]
    public void Oom_kill_is_detected_for_real()
    {
        Cgroup cg = driver.Create("oom", new CgroupLimits { MemoryLimitBytes = 16L << 20 });
        // Waits for a line on stdin, so it joins the cgroup before it allocates 64 MiB.
        Process p = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", "read go; x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        })!;
        processes.Add(p);
        Join(cg, p.Id);
        p.StandardInput.WriteLine("go");
        Assert.True(p.WaitForExit(30_000));
        Assert.Equal("", p.StandardOutput.ReadToEnd().Trim());
        Assert.True(driver.WasOomKilled("oom"));
        driver.Remove("oom");
        driver.Remove("");
    }

    [CgroupV1HostFact]
    public void Create_is_idempotent_and_unlimited_values_read_back_as_minus_one()
    {
        driver.Create("ctr", new CgroupLimits { CpuQuotaUs = 20000, CpuPeriodUs = 100000, MemoryLimitBytes = 32L << 20, PidsLimit = 5 });
        driver.Create("ctr", new CgroupLimits { CpuQuotaUs = -1, MemoryLimitBytes = 0, PidsLimit = 0 });
        CgroupLimits back = driver.ReadLimits("ctr");
        Assert.Equal(-1, back.CpuQuotaUs);
        Assert.Equal(100000, back.CpuPeriodUs);
        Assert.Equal(-1, back.MemoryLimitBytes);
        Assert.Equal(-1, back.PidsLimit);
        driver.Remove("ctr");
        driver.Remove("");
        Assert.False(driver.Exists(""));
    }
}
