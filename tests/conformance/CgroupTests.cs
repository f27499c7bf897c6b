using JailShim.Cri.V1;

namespace JailShim.Conformance;

/// <summary>CRI resources reach the kernel's cgroup files, and the kernel's OOM kill is reported.</summary>
[Collection(DaemonCollection.Name)]
public sealed class CgroupTests(DaemonFixture fixture)
{
    private readonly Daemon _daemon = fixture.Daemon;

    private string CgroupFile(string containerId, string file)
    {
        var dirs = Leaks.CgroupDirs(_daemon.CgroupRoot)
            .SelectMany(d => Directory.EnumerateDirectories(d, containerId, SearchOption.AllDirectories))
            .Where(d => File.Exists(Path.Combine(d, file)))
            .ToList();
        // On v1 each controller has its own hierarchy; files like cgroup.procs are in all of them.
        Assert.True(dirs.Count == 1 || file.StartsWith("cgroup.", StringComparison.Ordinal),
            $"expected one cgroup of {containerId} with {file}, found: {string.Join(", ", dirs)}");
        return File.ReadAllText(Path.Combine(dirs[0], file)).Trim();
    }

    [Fact]
    public async Task LimitsReachTheCgroupFiles()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "limits");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        ContainerConfig config = Cri.ContainerConfig("limited", "/bin/sh", "-c", "sleep 30");
        config.Linux.Resources = new LinuxContainerResources
        {
            CpuShares = 512,
            CpuQuota = 50_000,
            CpuPeriod = 100_000,
            MemoryLimitInBytes = 64L * 1024 * 1024,
            CpusetCpus = "0",
        };
        string id = await Cri.CreateAsync(_daemon, podId, pod, config);
        await _daemon.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });

        bool v2 = File.Exists("/sys/fs/cgroup/cgroup.controllers");
        if (v2)
        {
            Assert.Equal("50000 100000", CgroupFile(id, "cpu.max"));
            Assert.Equal((64L * 1024 * 1024).ToString(), CgroupFile(id, "memory.max"));
        }
        else
        {
            Assert.Equal("512", CgroupFile(id, "cpu.shares"));
            Assert.Equal("50000", CgroupFile(id, "cpu.cfs_quota_us"));
            Assert.Equal("100000", CgroupFile(id, "cpu.cfs_period_us"));
            Assert.Equal((64L * 1024 * 1024).ToString(), CgroupFile(id, "memory.limit_in_bytes"));
            Assert.Equal("4096", CgroupFile(id, "pids.max")); // the daemon's default pids limit
        }
        Assert.Equal("0", CgroupFile(id, "cpuset.cpus"));

        // The container's process is in that cgroup.
        ContainerStatusResponse verbose = await _daemon.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id, Verbose = true });
        int pid = System.Text.Json.JsonDocument.Parse(verbose.Info["info"]).RootElement.GetProperty("pid").GetInt32();
        Assert.Contains(pid.ToString(), CgroupFile(id, "cgroup.procs").Split('\n'));
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
    }

    [Fact]
    public async Task AllocatingPastTheMemoryLimitEndsInOomKilled()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "oom");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        // tail keeps the whole of an endless line in memory: it grows until the kernel kills it.
        ContainerConfig config = Cri.ContainerConfig("hog", "/bin/sh", "-c", "tail /dev/zero");
        config.Linux.Resources = new LinuxContainerResources { MemoryLimitInBytes = 32L * 1024 * 1024 };
        string id = await Cri.CreateAsync(_daemon, podId, pod, config);
        await _daemon.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });

        ContainerStatus status = await Cri.WaitForStateAsync(_daemon, id, ContainerState.ContainerExited, TimeSpan.FromSeconds(60));
        Assert.Equal("OOMKilled", status.Reason);
        Assert.NotEqual(0, status.ExitCode);
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
    }
}
