using System.Diagnostics;
using JailShim.Cri.V1;

namespace JailShim.Conformance;

/// <summary>StopContainer: the stop signal first, SIGKILL when the timeout runs out.</summary>
[Collection(DaemonCollection.Name)]
public sealed class StopTests(DaemonFixture fixture)
{
    private readonly Daemon _daemon = fixture.Daemon;

    [Fact]
    public async Task ProcessIgnoringSigtermIsKilledWhenTheTimeoutRunsOut()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "stubborn");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        string id = await Cri.RunAsync(_daemon, podId, pod, "stubborn", "trap '' TERM; while true; do sleep 0.1; done");

        var clock = Stopwatch.StartNew();
        await _daemon.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = id, Timeout = 2 });
        clock.Stop();
        ContainerStatus status = await Cri.StatusAsync(_daemon, id);
        Assert.Equal(ContainerState.ContainerExited, status.State);
        Assert.Equal(137, status.ExitCode);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.9), $"SIGKILL came before the timeout: {clock.Elapsed}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2 + 5), $"stop took {clock.Elapsed}");
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
    }

    [Fact]
    public async Task ProcessHandlingSigtermExitsOnIt()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "graceful");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        string id = await Cri.RunAsync(_daemon, podId, pod, "graceful", "trap 'echo bye; exit 7' TERM; while true; do sleep 0.1; done");
        await Task.Delay(200); // let the shell set its trap

        var clock = Stopwatch.StartNew();
        await _daemon.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = id, Timeout = 30 });
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"stop took {clock.Elapsed}");
        ContainerStatus status = await Cri.StatusAsync(_daemon, id);
        Assert.Equal(7, status.ExitCode);
        Assert.Contains("bye", await Cri.StdoutAsync(_daemon, id));

        // Stopping again, and removing a stopped container, are fine.
        await _daemon.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = id, Timeout = 1 });
        await _daemon.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = id });
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
    }

    [Fact]
    public async Task RemovingARunningContainerStopsItFirst()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "remove-running");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        string id = await Cri.RunAsync(_daemon, podId, pod, "sleeper", "sleep 1000");
        ContainerStatusResponse verbose = await _daemon.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id, Verbose = true });
        int pid = System.Text.Json.JsonDocument.Parse(verbose.Info["info"]).RootElement.GetProperty("pid").GetInt32();
        Assert.True(Directory.Exists($"/proc/{pid}"));

        await _daemon.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = id });
        Assert.False(File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z"), "the container's process survived its removal");
        var left = await _daemon.Runtime.ListContainersAsync(new ListContainersRequest { Filter = new ContainerFilter { Id = id } });
        Assert.Empty(left.Containers);
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
    }
}
