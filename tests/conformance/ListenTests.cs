using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Grpc.Net.Client;
using JailShim.Cri.V1;

namespace JailShim.Conformance;

/// <summary>--listen: a unix socket (mode 0660), plus a loopback TCP address when asked; nothing else.</summary>
public sealed class ListenTests
{
    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    [Fact]
    public async Task ServesOnTheSocketAndOnLoopbackTcp()
    {
        int port = FreePort();
        await using Daemon daemon = await Daemon.StartAsync(extraArgs: ["--listen", $"tcp://127.0.0.1:{port}"]);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite,
            File.GetUnixFileMode(daemon.Socket));

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        var version = await new RuntimeService.RuntimeServiceClient(channel).VersionAsync(new VersionRequest());
        Assert.Equal("jailshim", version.RuntimeName);
    }

    [Fact]
    public async Task RefusesANonLoopbackTcpAddress()
    {
        var start = new ProcessStartInfo(Daemon.BinaryPath)
        {
            ArgumentList = { "--listen", "tcp://0.0.0.0:1", "--root", "/nonexistent/never-made", "--run-root", "/nonexistent/never-made" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(2, process.ExitCode); // a usage error, said in one line
        Assert.DoesNotContain("   at ", stderr);
        Assert.Contains("loopback", stderr + await stdout);
        Assert.False(Directory.Exists("/nonexistent/never-made"));
    }
}
