using JailShim.Cri.V1;

namespace JailShim.Conformance;

/// <summary>Containers keep running, logging and having their exit recorded while the daemon is down.</summary>
public sealed class RestartTests
{
    [Fact]
    public async Task ContainersOutliveTheDaemonAndTheirExitIsRecorded()
    {
        Daemon first = await Daemon.StartAsync();
        string dir = first.Dir;
        string id, podId;
        try
        {
            PodSandboxConfig pod = Cri.PodConfig(first, "restart");
            podId = await Cri.RunPodAsync(first, pod);
            id = await Cri.RunAsync(first, podId, pod, "survivor", "echo before; sleep 2; echo after; exit 5");
        }
        catch
        {
            await first.DisposeAsync();
            throw;
        }

        await first.StopAsync();
        Assert.Equal(0, first.ExitCode);
        Assert.False(File.Exists(first.Socket), "the socket must go on shutdown");
        await Task.Delay(3000); // the container finishes while no daemon runs

        // The second daemon owns the dir from here: its disposal removes the pods and the dir.
        await using Daemon second = await Daemon.StartAsync(reuseDir: dir);
        var pods = await second.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest());
        Assert.Equal(PodSandboxState.SandboxReady, Assert.Single(pods.Items).State);
        ContainerStatus status = await Cri.StatusAsync(second, id);
        Assert.Equal(ContainerState.ContainerExited, status.State);
        Assert.Equal(5, status.ExitCode);
        Assert.True(status.FinishedAt - status.StartedAt >= 1_900_000_000);
        Assert.Equal("before\nafter\n", await Cri.StdoutAsync(second, id));
    }
}
