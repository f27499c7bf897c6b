using JailShim.Cri.V1;

namespace JailShim.Conformance;

[Collection(DaemonCollection.Name)]
public sealed class LifecycleTests(DaemonFixture fixture)
{
    private readonly Daemon _daemon = fixture.Daemon;

    [Fact]
    public async Task PodAndContainerGoThroughEveryState()
    {
        long before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "lifecycle");
        string podId = await Cri.RunPodAsync(_daemon, pod);

        var podStatus = (await _daemon.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = podId })).Status;
        Assert.Equal(PodSandboxState.SandboxReady, podStatus.State);
        Assert.Equal("lifecycle", podStatus.Metadata.Name);
        Assert.InRange(podStatus.CreatedAt, before, before + 60_000_000_000);

        string id = await Cri.CreateAsync(_daemon, podId, pod, Cri.ContainerConfig("main", "/bin/sh", "-c", "sleep 0.3; exit 3"));
        ContainerStatus created = await Cri.StatusAsync(_daemon, id);
        Assert.Equal(ContainerState.ContainerCreated, created.State);
        Assert.True(created.CreatedAt >= before);
        Assert.Equal(0, created.StartedAt);

        await _daemon.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        ContainerStatus running = await Cri.StatusAsync(_daemon, id);
        Assert.Equal(ContainerState.ContainerRunning, running.State);
        Assert.True(running.StartedAt >= created.CreatedAt);

        var listed = await _daemon.Runtime.ListContainersAsync(new ListContainersRequest
        {
            Filter = new ContainerFilter { PodSandboxId = podId, State = new ContainerStateValue { State = ContainerState.ContainerRunning } },
        });
        Assert.Equal(id, Assert.Single(listed.Containers).Id);

        ContainerStatus exited = await Cri.WaitForStateAsync(_daemon, id, ContainerState.ContainerExited);
        Assert.Equal(3, exited.ExitCode);
        Assert.Equal("Error", exited.Reason);
        Assert.True(exited.FinishedAt >= exited.StartedAt + 250_000_000, "finished_at is at least the 0.3 s sleep after started_at");

        await _daemon.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId });
        podStatus = (await _daemon.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = podId })).Status;
        Assert.Equal(PodSandboxState.SandboxNotready, podStatus.State);

        await _daemon.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = id });
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
        var pods = await _daemon.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest { Filter = new PodSandboxFilter { Id = podId } });
        Assert.Empty(pods.Items);
        Assert.False(Directory.Exists(Path.Combine(_daemon.Root, "sandboxes", podId)));
        Assert.False(Directory.Exists(Path.Combine(_daemon.Root, "containers", id)));
    }

    [Fact]
    public async Task RuntimeReportsVersionStatusAndCgroupDriver()
    {
        var version = await _daemon.Runtime.VersionAsync(new VersionRequest());
        Assert.Equal("jailshim", version.RuntimeName);
        Assert.Equal("v1", version.RuntimeApiVersion);
        var status = await _daemon.Runtime.StatusAsync(new StatusRequest());
        Assert.Contains(status.Status.Conditions, c => c.Type == "RuntimeReady" && c.Status);
        var config = await _daemon.Runtime.RuntimeConfigAsync(new RuntimeConfigRequest());
        Assert.Equal(CgroupDriver.Cgroupfs, config.Linux.CgroupDriver);
    }

    [Fact]
    public async Task PodAttributesArePreservedAndListFiltersWork()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "attributes");
        pod.Labels["foo"] = "bar";
        pod.Annotations["abc"] = "def";
        pod.Linux.CgroupParent = "/kubepods/besteffort";
        string podId = await Cri.RunPodAsync(_daemon, pod);

        var status = (await _daemon.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = podId })).Status;
        Assert.Equal(pod.Metadata, status.Metadata);
        Assert.Equal("bar", status.Labels["foo"]);
        Assert.Equal("def", status.Annotations["abc"]);

        var byLabel = await _daemon.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest
        {
            Filter = new PodSandboxFilter { LabelSelector = { ["foo"] = "bar", ["test"] = "attributes" } },
        });
        Assert.Equal(podId, Assert.Single(byLabel.Items).Id);
        var byPrefix = await _daemon.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest { Filter = new PodSandboxFilter { Id = podId[..12] } });
        Assert.Equal(podId, Assert.Single(byPrefix.Items).Id);
        var notReady = await _daemon.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest
        {
            Filter = new PodSandboxFilter { Id = podId, State = new PodSandboxStateValue { State = PodSandboxState.SandboxNotready } },
        });
        Assert.Empty(notReady.Items);

        // The cgroup parent is honoured below the daemon's own cgroup root.
        Assert.Contains(Leaks.CgroupChildren(_daemon.CgroupRoot), d => d.EndsWith($"/kubepods/besteffort/{podId}", StringComparison.Ordinal));
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
        Assert.DoesNotContain(Leaks.CgroupChildren(_daemon.CgroupRoot), d => d.Contains(podId));
    }

    [Fact]
    public async Task ContainerSeesOnlyItself()
    {
        string marker = Path.Combine(_daemon.Dir, "host-only-marker");
        await File.WriteAllTextAsync(marker, "host");
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "isolation", hostname: "jailed-host");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        string id = await Cri.RunAsync(_daemon, podId, pod, "probe",
            $"echo pid=$$; hostname; ps -e -o pid= | wc -l; ls {marker} 2>&1 || echo no-marker; " +
            "echo kcore=$(cat /proc/kcore | wc -c); echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo sys-ro; ls /");

        string stdout = await Cri.StdoutAsync(_daemon, id);
        string[] lines = stdout.Split('\n');
        Assert.Equal("pid=1", lines[0]);
        Assert.Equal("jailed-host", lines[1]);
        Assert.True(int.Parse(lines[2].Trim()) <= 3, $"the container sees host processes:\n{stdout}"); // sh, ps, wc
        Assert.Contains("no-marker", stdout);
        Assert.Contains("kcore=0", stdout); // masked
        Assert.Contains("sys-ro", stdout); // /proc/sys is read-only
        Assert.DoesNotContain("work", lines.Skip(3)); // a host top-level dir the base image lacks
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
    }
}
