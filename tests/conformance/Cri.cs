using System.Diagnostics;
using Grpc.Core;
using JailShim.Cri.V1;

namespace JailShim.Conformance;

/// <summary>Request builders and waits shared by the tests, in the shapes the kubelet and critest send.</summary>
public static class Cri
{
    public const string BaseImage = "jailshim.local/base:latest";

    public static PodSandboxConfig PodConfig(Daemon daemon, string name, string? hostname = null)
    {
        string uid = Guid.NewGuid().ToString("N");
        return new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = name, Uid = uid, Namespace = "conformance", Attempt = 0 },
            Hostname = hostname ?? name,
            LogDirectory = Path.Combine(daemon.LogDir, uid),
            Labels = { ["test"] = name },
            Linux = new LinuxPodSandboxConfig(),
        };
    }

    public static async Task<string> RunPodAsync(Daemon daemon, PodSandboxConfig config) =>
        (await daemon.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;

    public static ContainerConfig ContainerConfig(string name, params string[] command) =>
        JailShim.Testing.CriRequests.Container(BaseImage, name, command);

    public static async Task<string> CreateAsync(Daemon daemon, string podId, PodSandboxConfig pod, ContainerConfig config) =>
        (await daemon.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = podId, Config = config, SandboxConfig = pod,
        })).ContainerId;

    /// <summary>Creates and starts a container running a shell command.</summary>
    public static async Task<string> RunAsync(Daemon daemon, string podId, PodSandboxConfig pod, string name, string script)
    {
        string id = await CreateAsync(daemon, podId, pod, ContainerConfig(name, "/bin/sh", "-c", script));
        await daemon.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return id;
    }

    public static async Task<ContainerStatus> StatusAsync(Daemon daemon, string id) =>
        (await daemon.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id })).Status;

    /// <summary>Polls until the container reaches the state (the CRI has no wait call).</summary>
    public static async Task<ContainerStatus> WaitForStateAsync(Daemon daemon, string id, ContainerState state,
        TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            ContainerStatus status = await StatusAsync(daemon, id);
            if (status.State == state) return status;
            if (clock.Elapsed > (timeout ?? TimeSpan.FromSeconds(30)))
                throw new TimeoutException($"container {id} stayed {status.State}, wanted {state}");
            await Task.Delay(20);
        }
    }

    /// <summary>The message parts of a CRI log file, per line: (stream, tag, message).</summary>
    public static async Task<List<(string Stream, string Tag, string Message)>> ReadLogAsync(string path)
    {
        var lines = new List<(string, string, string)>();
        foreach (string line in await File.ReadAllLinesAsync(path))
        {
            string[] parts = line.Split(' ', 4);
            Assert.True(parts.Length >= 3, $"malformed log line: {line}");
            Assert.True(DateTimeOffset.TryParse(parts[0], out _), $"bad timestamp in: {line}");
            lines.Add((parts[1], parts[2], parts.Length > 3 ? parts[3] : ""));
        }
        return lines;
    }

    /// <summary>The whole stdout of a container (full lines joined), after it exited.</summary>
    public static async Task<string> StdoutAsync(Daemon daemon, string id)
    {
        ContainerStatus status = await WaitForStateAsync(daemon, id, ContainerState.ContainerExited);
        var log = await ReadLogAsync(status.LogPath);
        return string.Concat(log.Where(l => l.Stream == "stdout").Select(l => l.Message + (l.Tag == "F" ? "\n" : "")));
    }

    public static async Task<RpcException> FailsAsync(Func<Task> call)
    {
        return await Assert.ThrowsAsync<RpcException>(call);
    }
}
