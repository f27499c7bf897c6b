using System.Diagnostics;
using System.Reflection;
using Grpc.Core;
using Grpc.Net.Client;
using JailShim.Cri.V1;

namespace JailShim.Bench;

/// <summary>
/// The real daemon binary (Release build) on a temp root, run root and socket, and a gRPC
/// client over its unix socket. Mirrors tests/conformance/Daemon.cs, without trace file and
/// debug logging (they would be measured too). The daemon runs in a session of its own
/// (setsid), so a Ctrl-C at the terminal reaches only the bench, which then removes the pods
/// through the CRI before it stops the daemon with SIGTERM.
/// </summary>
public sealed class Daemon : IAsyncDisposable
{
    private const int KeptLines = 400;
    private readonly Process _process;
    private readonly Queue<string> _output = new();
    private readonly GrpcChannel _channel;

    private Daemon(string dir, string binary, Process process)
    {
        Dir = dir;
        Binary = binary;
        _process = process;
        Pid = process.Id;
        string socket = Socket;
        _channel = JailShim.Testing.UnixChannel.Create(socket);
        Runtime = new RuntimeService.RuntimeServiceClient(_channel);
        Images = new ImageService.ImageServiceClient(_channel);
    }

    public string Dir { get; }
    public string Binary { get; }
    public string Root => Path.Combine(Dir, "root");
    public string RunRoot => Path.Combine(Dir, "run");
    public string Socket => Path.Combine(RunRoot, "jailshim.sock");
    public string LogDir => Path.Combine(Dir, "logs");
    /// <summary>A cgroup name of its own, so the bench never shares one with a test run or another daemon.</summary>
    public string CgroupRoot => "jailshim-bench-" + Path.GetFileName(Dir);
    public int Pid { get; private set; }
    public bool HasExited => _process.HasExited;
    public RuntimeService.RuntimeServiceClient Runtime { get; }
    public ImageService.ImageServiceClient Images { get; }

    /// <summary>The last lines the daemon printed (stdout and stderr).</summary>
    public string Output { get { lock (_output) return string.Join('\n', _output); } }

    public static string DefaultBinaryPath =>
        Path.GetFullPath(typeof(Daemon).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "DaemonPath").Value!);

    /// <summary>Starts the daemon on DIR/{root,run,logs} and waits until it answers Version.</summary>
    public static async Task<Daemon> StartAsync(string binary, string dir, string logLevel, CancellationToken cancel)
    {
        if (!File.Exists(binary))
            throw new FileNotFoundException($"daemon binary not found: {binary} (run `make build`)", binary);
        string root = Path.Combine(dir, "root"), runRoot = Path.Combine(dir, "run");
        Directory.CreateDirectory(Path.Combine(dir, "logs"));
        // setsid(1) execs in place (same pid) when its caller is not a group leader, which a
        // child of Process.Start never is; the daemon then gets no terminal signals.
        string setsid = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists) ?? "";
        var start = new ProcessStartInfo(setsid.Length > 0 ? setsid : binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (setsid.Length > 0) start.ArgumentList.Add(binary);
        foreach (string arg in new[]
        {
            "--listen", "unix://" + Path.Combine(runRoot, "jailshim.sock"), "--root", root, "--run-root", runRoot,
            "--cgroup-root", "jailshim-bench-" + Path.GetFileName(dir), "--log-level", logLevel,
        })
            start.ArgumentList.Add(arg);

        var process = Process.Start(start)!;
        var daemon = new Daemon(dir, binary, process);
        process.OutputDataReceived += (_, e) => daemon.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => daemon.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var clock = Stopwatch.StartNew();
        try
        {
            while (true)
            {
                cancel.ThrowIfCancellationRequested();
                if (process.HasExited)
                    throw new BenchException($"daemon exited with status {process.ExitCode} during start-up:\n{daemon.Output}");
                if (File.Exists(daemon.Socket))
                {
                    try
                    {
                        await daemon.Runtime.VersionAsync(new VersionRequest(), deadline: DateTime.UtcNow.AddSeconds(5),
                            cancellationToken: cancel);
                        break;
                    }
                    catch (RpcException) { }
                }
                if (clock.Elapsed > TimeSpan.FromSeconds(120))
                    throw new BenchException($"daemon did not answer Version within 120 s:\n{daemon.Output}");
                await Task.Delay(50, cancel);
            }
            daemon.Pid = daemon.FindDaemonPid();
            return daemon;
        }
        catch
        {
            await daemon.StopAsync();
            daemon._channel.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The pid of the jailshim process itself: the one Process.Start made (setsid exec'd into it);
    /// if setsid did fork after all, its child that runs our binary with our root.
    /// </summary>
    private int FindDaemonPid()
    {
        if (ProcFs.Comm(_process.Id) is "jailshim") return _process.Id;
        foreach (string proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), out int pid)) continue;
            try
            {
                string cmdline = File.ReadAllText(Path.Combine(proc, "cmdline"));
                if (ProcFs.Comm(pid) == "jailshim" && cmdline.Contains("\0" + Root + "\0", StringComparison.Ordinal))
                    return pid;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return _process.Id;
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > KeptLines) _output.Dequeue();
        }
    }

    /// <summary>SIGTERM (the daemon's clean shutdown), SIGKILL after 30 s. Only ever our own pid.</summary>
    public async Task StopAsync()
    {
        if (_process.HasExited) return;
        Native.Kill(Pid, Native.SIGTERM);
        if (Pid != _process.Id) Native.Kill(_process.Id, Native.SIGTERM);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await _process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"daemon (pid {Pid}) ignored SIGTERM for 30 s; sending SIGKILL");
            Native.Kill(Pid, Native.SIGKILL);
            if (Pid != _process.Id) Native.Kill(_process.Id, Native.SIGKILL);
            await _process.WaitForExitAsync();
        }
    }

    public int ExitCode => _process.ExitCode;

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _channel.Dispose();
        _process.Dispose();
    }
}
