using Grpc.Core;
using JailShim.Cri.V1;

namespace JailShim.Conformance;

/// <summary>Remove, and a create that fails, leave no mount, process, cgroup, pinned namespace or state dir.</summary>
[Collection(DaemonCollection.Name)]
public sealed class LeakTests(DaemonFixture fixture)
{
    private readonly Daemon _daemon = fixture.Daemon;

    private void AssertNothingLeftOf(params string[] ids)
    {
        foreach (string id in ids)
        {
            string sandboxDir = Path.Combine(_daemon.Root, "sandboxes", id);
            string containerDir = Path.Combine(_daemon.Root, "containers", id);
            Assert.False(Directory.Exists(sandboxDir), $"state dir {sandboxDir} left");
            Assert.False(Directory.Exists(containerDir), $"state dir {containerDir} left");
            Assert.Empty(Leaks.Mounts(sandboxDir));
            Assert.Empty(Leaks.Mounts(containerDir));
            Assert.Empty(Leaks.Processes(sandboxDir));
            Assert.Empty(Leaks.Processes(containerDir));
            Assert.DoesNotContain(Leaks.CgroupChildren(_daemon.CgroupRoot), d => d.Contains(id));
            Assert.False(File.Exists(Path.Combine(_daemon.RunRoot, "monitors", id)), "monitor socket left");
        }
    }

    /// <summary>A live process, not a zombie waiting for init to reap it.</summary>
    private static bool IsLive(int pid)
    {
        try { return !File.ReadAllText($"/proc/{pid}/stat").Split(')')[^1].TrimStart().StartsWith('Z'); }
        catch (IOException) { return false; }
    }

    [Fact]
    public async Task RemovedPodLeavesNothing()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "leak-remove");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        string hostDir = Path.Combine(_daemon.Dir, "shared-data");
        Directory.CreateDirectory(hostDir);
        ContainerConfig config = Cri.ContainerConfig("with-mount", "/bin/sh", "-c", "echo hi > /data/out; sleep 1000");
        config.Mounts.Add(new Mount { HostPath = hostDir, ContainerPath = "/data" });
        string running = await Cri.CreateAsync(_daemon, podId, pod, config);
        await _daemon.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = running });
        string created = await Cri.CreateAsync(_daemon, podId, pod, Cri.ContainerConfig("never-started", "/bin/true"));
        string exited = await Cri.RunAsync(_daemon, podId, pod, "exited", "true");
        await Cri.WaitForStateAsync(_daemon, exited, ContainerState.ContainerExited);

        for (int i = 0; i < 100 && !File.Exists(Path.Combine(hostDir, "out")); i++) await Task.Delay(20);
        Assert.Equal("hi\n", await File.ReadAllTextAsync(Path.Combine(hostDir, "out")));
        Assert.NotEmpty(Leaks.Mounts(Path.Combine(_daemon.Root, "sandboxes", podId))); // the pinned namespaces

        var podStatus = await _daemon.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = podId, Verbose = true });
        int infraPid = System.Text.Json.JsonDocument.Parse(podStatus.Info["info"]).RootElement.GetProperty("pid").GetInt32();
        Assert.True(Directory.Exists($"/proc/{infraPid}"), "the pod's infra process runs");

        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
        AssertNothingLeftOf(podId, running, created, exited);
        Assert.False(IsLive(infraPid), "the pod's infra process outlived its pod");
        Assert.True(File.Exists(Path.Combine(hostDir, "out")), "remove must not touch the host path of a mount");
    }

    [Fact]
    public async Task FailedCreateLeavesNothing()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "leak-failed-create");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        var before = Directory.EnumerateDirectories(Path.Combine(_daemon.Root, "containers")).ToHashSet();
        var cgroupsBefore = Leaks.CgroupChildren(_daemon.CgroupRoot).ToHashSet();

        // The shim fails late, inside the new mount namespace: /proc refuses a new mount point.
        ContainerConfig config = Cri.ContainerConfig("fails", "/bin/true");
        config.Mounts.Add(new Mount { HostPath = _daemon.Dir, ContainerPath = "/proc/no-such-dir/x" });
        var error = await Cri.FailsAsync(() => Cri.CreateAsync(_daemon, podId, pod, config));
        Assert.NotEqual(StatusCode.OK, error.StatusCode);
        Assert.Contains("mount", error.Status.Detail);

        Assert.Equal(before, Directory.EnumerateDirectories(Path.Combine(_daemon.Root, "containers")).ToHashSet());
        Assert.Equal(cgroupsBefore, Leaks.CgroupChildren(_daemon.CgroupRoot).ToHashSet());
        Assert.Empty(Leaks.Processes(Path.Combine(_daemon.Root, "containers")));
        Assert.Empty(Leaks.Mounts(Path.Combine(_daemon.Root, "containers")));

        // The name was released by the rollback: the same name now works.
        string id = await Cri.CreateAsync(_daemon, podId, pod, Cri.ContainerConfig("fails", "/bin/true"));
        Assert.NotEmpty(id);
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
        AssertNothingLeftOf(podId, id);
    }
}
