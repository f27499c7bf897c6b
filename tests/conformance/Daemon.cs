using System.Diagnostics;
using System.Reflection;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using JailShim.Cri.V1;

namespace JailShim.Conformance;

/// <summary>
/// The real daemon binary, started on a temp root, run root and socket, with a
/// trace file; a gRPC client over its unix socket. Dispose removes every pod it
/// still holds, stops the daemon and deletes the temp dirs.
/// </summary>
public sealed class Daemon : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly GrpcChannel _channel;

    private Daemon(string dir, string root, string runRoot, string socket, string cgroupRoot, Process process)
    {
        Dir = dir;
        Root = root;
        RunRoot = runRoot;
        Socket = socket;
        CgroupRoot = cgroupRoot;
        TraceFile = Path.Combine(dir, "trace.jsonl");
        _process = process;
        _channel = JailShim.Testing.UnixChannel.Create(socket);
        Runtime = new RuntimeService.RuntimeServiceClient(_channel);
        Images = new ImageService.ImageServiceClient(_channel);
    }

    public string Dir { get; }
    public string Root { get; }
    public string RunRoot { get; }
    public string Socket { get; }
    public string CgroupRoot { get; }
    public string TraceFile { get; }
    public string LogDir => Path.Combine(Dir, "logs");
    public RuntimeService.RuntimeServiceClient Runtime { get; }
    public ImageService.ImageServiceClient Images { get; }
    public string Output { get { lock (_output) return _output.ToString(); } }

    public static string BinaryPath =>
        typeof(Daemon).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "DaemonPath").Value!;

    /// <param name="extraArgs">more daemon flags, e.g. ["--config", FILE]</param>
    public static async Task<Daemon> StartAsync(string? reuseDir = null, IEnumerable<string>? extraArgs = null)
    {
        string dir = reuseDir ?? Directory.CreateTempSubdirectory("jst-").FullName;
        string root = Path.Combine(dir, "root"), runRoot = Path.Combine(dir, "run");
        string socket = Path.Combine(runRoot, "jailshim.sock");
        // A cgroup name of its own per daemon, so parallel test runs never share one.
        string cgroupRoot = "jailshim-test-" + Path.GetFileName(dir);
        var start = new ProcessStartInfo(BinaryPath)
        {
            ArgumentList =
            {
                "--listen", "unix://" + socket, "--root", root, "--run-root", runRoot, "--cgroup-root", cgroupRoot,
                "--trace-file", Path.Combine(dir, "trace.jsonl"), "--log-level", "Debug",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string arg in extraArgs ?? []) start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        var daemon = new Daemon(dir, root, runRoot, socket, cgroupRoot, process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (daemon._output) daemon._output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (daemon._output) daemon._output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            await daemon.WaitUntilServingAsync();
            return daemon;
        }
        catch
        {
            // A daemon that never served is stopped here, and the dir goes unless the caller brought it.
            await daemon.StopAsync();
            if (reuseDir is null) Leaks.RemoveTestDir(dir);
            throw;
        }
    }

    private async Task WaitUntilServingAsync()
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"daemon exited with {_process.ExitCode}:\n{Output}");
            if (File.Exists(Socket))
            {
                try
                {
                    await Runtime.VersionAsync(new VersionRequest(), deadline: DateTime.UtcNow.AddSeconds(5));
                    return;
                }
                catch (RpcException) { }
            }
            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
                throw new TimeoutException($"daemon did not answer within 60 s:\n{Output}");
            await Task.Delay(50);
        }
    }

    /// <summary>Stops the daemon (SIGTERM) without touching its pods: they must survive a restart.</summary>
    public async Task StopAsync()
    {
        if (_process.HasExited) return;
        Syscall.Kill(_process.Id, 15);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await _process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { _process.Kill(); await _process.WaitForExitAsync(); }
    }

    public int ExitCode => _process.ExitCode;

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                var pods = await Runtime.ListPodSandboxAsync(new ListPodSandboxRequest());
                foreach (PodSandbox pod in pods.Items)
                    await Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod.Id });
            }
        }
        finally
        {
            await StopAsync();
            _channel.Dispose();
            _process.Dispose();
            Leaks.RemoveTestDir(Dir);
        }
    }
}
