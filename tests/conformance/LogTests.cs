using JailShim.Cri.V1;

namespace JailShim.Conformance;

/// <summary>The CRI log file, written by the monitor: "TIMESTAMP STREAM TAG MESSAGE" lines.</summary>
[Collection(DaemonCollection.Name)]
public sealed class LogTests(DaemonFixture fixture)
{
    private readonly Daemon _daemon = fixture.Daemon;

    [Fact]
    public async Task LogHoldsBothStreamsSplitLongLinesAndTheLastPartialLine()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "logs");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        string id = await Cri.RunAsync(_daemon, podId, pod, "writer",
            "echo out1; echo err1 >&2; head -c 20000 /dev/zero | tr '\\0' x; echo; echo err2 >&2; printf last");
        ContainerStatus status = await Cri.WaitForStateAsync(_daemon, id, ContainerState.ContainerExited);
        Assert.Equal(Path.Combine(pod.LogDirectory, "writer.log"), status.LogPath);

        var log = await Cri.ReadLogAsync(status.LogPath);
        var stdout = log.Where(l => l.Stream == "stdout").Select(l => (l.Tag, l.Message)).ToList();
        var stderr = log.Where(l => l.Stream == "stderr").Select(l => (l.Tag, l.Message)).ToList();
        Assert.Equal(
            [("F", "out1"), ("P", new string('x', 16384)), ("F", new string('x', 20000 - 16384)), ("F", "last")],
            stdout);
        Assert.Equal([("F", "err1"), ("F", "err2")], stderr);
        Assert.All(log, l => Assert.True(l.Stream is "stdout" or "stderr"));

        // Timestamps are RFC 3339 with nanoseconds, in order.
        string[] lines = await File.ReadAllLinesAsync(status.LogPath);
        Assert.All(lines, line => Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) ", line));
        var stamps = lines.Select(l => DateTimeOffset.Parse(l.Split(' ')[0])).ToList();
        Assert.Equal(stamps.Order(), stamps);
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
    }

    [Fact]
    public async Task ExitCodesAreReported()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "exit-codes");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        foreach (int code in new[] { 0, 1, 42, 255 })
        {
            string id = await Cri.RunAsync(_daemon, podId, pod, $"exit-{code}", $"exit {code}");
            ContainerStatus status = await Cri.WaitForStateAsync(_daemon, id, ContainerState.ContainerExited);
            Assert.Equal(code, status.ExitCode);
            Assert.Equal(code == 0 ? "Completed" : "Error", status.Reason);
        }
        // PID 1 of a namespace cannot be killed from inside it, so a child kills itself.
        string killed = await Cri.RunAsync(_daemon, podId, pod, "self-kill", "sh -c 'kill -9 $$'; exit $?");
        Assert.Equal(137, (await Cri.WaitForStateAsync(_daemon, killed, ContainerState.ContainerExited)).ExitCode);
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
    }
}
