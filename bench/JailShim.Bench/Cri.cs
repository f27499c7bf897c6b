using Grpc.Core;
using JailShim.Cri.V1;

namespace JailShim.Bench;

/// <summary>Request builders in the shapes the kubelet sends (the container shape is shared with the tests: tests/Shared).</summary>
public static class Cri
{
    public const string BaseImage = "jailshim.local/base:latest";

    public static PodSandboxConfig PodConfig(Daemon daemon, string name)
    {
        string uid = Guid.NewGuid().ToString("N");
        return new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = name, Uid = uid, Namespace = "bench", Attempt = 0 },
            Hostname = name,
            LogDirectory = Path.Combine(daemon.LogDir, uid),
            Labels = { ["bench"] = name },
            Linux = new LinuxPodSandboxConfig(),
        };
    }

    public static ContainerConfig ContainerConfig(string name, params string[] command) =>
        JailShim.Testing.CriRequests.Container(BaseImage, name, command);

    /// <summary>Runs one CRI call; a gRPC error becomes a <see cref="BenchException"/> that names the call and the daemon's exact answer.</summary>
    public static async Task<T> CallAsync<T>(string what, Func<Task<T>> call)
    {
        try { return await call(); }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            throw new BenchException($"{what} failed: status {e.StatusCode}, detail \"{e.Status.Detail}\"", e);
        }
    }
}

/// <summary>A failure the bench reports as is (a daemon error, a missing tool), without a stack trace.</summary>
public sealed class BenchException(string message, Exception? inner = null) : Exception(message, inner);
