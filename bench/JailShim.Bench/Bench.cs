using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using JailShim.Cri.V1;

namespace JailShim.Bench;

public sealed record Options
{
    public int Iterations { get; init; } = 30;
    public int Warmup { get; init; } = 5;
    public int Pods { get; init; } = 50;
    public bool Reference { get; init; } = true;
    public bool Memory { get; init; } = true;
    public bool Install { get; init; } = true;
    public bool Pull { get; init; } = true;
    public string DaemonBinary { get; init; } = Daemon.DefaultBinaryPath;
    public string LogLevel { get; init; } = "Warning";
    public string? Output { get; init; }
}

/// <summary>
/// One bench run: daemon start, warm-up, N interleaved iterations (our pod cycle, crun run,
/// runc run), the 50-pod memory check, the report. Everything it makes is listed here so
/// <see cref="CleanupAsync"/> can undo it whatever happened.
/// </summary>
public sealed class Bench(Options options, CancellationToken cancel)
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

    private readonly Dictionary<string, Samples> _steps = new[]
    {
        "RunPodSandbox", "CreateContainer", "StartContainer", "start -> EXITED (/bin/true)", "StopPodSandbox",
        "RemovePodSandbox", "pod+container to running", "whole pod cycle",
    }.ToDictionary(n => n, n => new Samples(n));

    private readonly Dictionary<string, Samples> _reference = [];
    private readonly Dictionary<string, string> _referenceSkipped = [];
    private readonly List<OciRuntime> _runtimes = []; // timed
    private readonly List<OciRuntime> _prepared = []; // every one with a bundle and state dir, for cleanup
    private readonly HashSet<string> _pods = [];
    private readonly List<ProcIdentity> _madeForUs = [];
    private readonly List<string> _errors = [];
    private readonly List<string> _notes = [];
    private readonly JsonObject _memory = [];
    private JsonObject? _pull;
    private string? _dir;
    private Daemon? _daemon;
    private double _daemonStartMs = double.NaN;
    private long? _idleRssKiB;
    private bool _printedDaemonOutput;
    private int _podSeq;

    private Samples Step(string name) => _steps[name];

    private Daemon D => _daemon ?? throw new InvalidOperationException("daemon not started");

    private CallOptions Call => new(cancellationToken: cancel);

    public async Task<int> RunAsync()
    {
        string loadStart = LoadAverage();
        Console.WriteLine($"JailShim bench: {options.Iterations} iterations, {options.Warmup} warm-up cycles, {options.Pods} pods for memory");
        Console.WriteLine($"host: {Environment.ProcessorCount} CPUs, kernel {Environment.OSVersion.Version}, load {loadStart}");
        Console.WriteLine($"daemon: {options.DaemonBinary}");

        _dir = Directory.CreateTempSubdirectory("jsbench-").FullName;
        Console.WriteLine($"temp dir: {_dir}");

        // 1. daemon + warm-up
        bool ours = await Section("daemon start", async () =>
        {
            var clock = Stopwatch.StartNew();
            _daemon = await Daemon.StartAsync(options.DaemonBinary, _dir, options.LogLevel, cancel);
            _daemonStartMs = clock.Elapsed.TotalMilliseconds;
            Console.WriteLine($"daemon pid {_daemon.Pid} ready in {_daemonStartMs:F0} ms (cgroup root {_daemon.CgroupRoot})");
        });
        ours = ours && await Section("warm-up", async () =>
        {
            for (int i = 0; i < options.Warmup; i++) await PodCycleAsync(record: false);
            _idleRssKiB = ProcFs.StatusKiB(D.Pid, "VmRSS");
            Console.WriteLine($"warm-up: {options.Warmup} pod cycles done; daemon RSS {_idleRssKiB} KiB");
        });

        // 2+4. reference runtimes, then the interleaved timed loop
        if (options.Reference) await Section("reference runtimes setup", PrepareReferenceAsync);
        else _notes.Add("reference runtimes skipped (--no-reference)");
        if (ours || _runtimes.Count > 0) await Section("timed iterations", () => TimedLoopAsync(ours));

        // 3. memory
        if (!options.Memory) _notes.Add("memory check skipped (--no-memory)");
        else if (ours) await Section($"memory ({options.Pods} pods)", MemoryAsync);
        else _notes.Add("memory check skipped: the daemon could not run a pod cycle");

        // 3b. image pull (PullBench.cs)
        if (!options.Pull) _notes.Add("pull bench skipped (--no-pull)");
        else if (!ours) _notes.Add("pull bench skipped: the daemon could not run a pod cycle");
        else if (await PullBench.EnsureToolsAsync(options.Install, cancel) is { } why) Note($"pull bench skipped: {why}");
        else await Section("image pull", async () => _pull = await new PullBench(D, _dir!, cancel, Note).RunAsync(rounds: 3, creates: 10));

        // 5. report
        JsonObject result = Report(loadStart);
        string output = options.Output ?? Path.Combine(RepoRoot, "bench", "results", "latest.json");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        await File.WriteAllTextAsync(output, result.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n",
            CancellationToken.None);
        Console.WriteLine($"\nwrote {Path.GetFullPath(output)}");
        return _errors.Count == 0 ? 0 : 1;
    }

    private static string RepoRoot => Path.GetFullPath(typeof(Bench).Assembly
        .GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
        .Cast<System.Reflection.AssemblyMetadataAttribute>().Single(a => a.Key == "RepoRoot").Value!);

    /// <summary>Runs one part; a failure is recorded (with the daemon's last output) and the bench goes on with the next part.</summary>
    private async Task<bool> Section(string name, Func<Task> body)
    {
        try
        {
            await body();
            return true;
        }
        catch (Exception) when (cancel.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancel);
        }
        catch (Exception e)
        {
            string message = e is BenchException ? e.Message : e.ToString();
            _errors.Add($"{name}: {message}");
            Console.WriteLine($"\n!! {name} FAILED: {message}");
            if (_daemon is not null)
            {
                if (_daemon.HasExited) Console.WriteLine($"!! the daemon has exited (status {_daemon.ExitCode})");
                if (!_printedDaemonOutput)
                {
                    _printedDaemonOutput = true;
                    string tail = string.Join('\n', _daemon.Output.Split('\n').TakeLast(40));
                    Console.WriteLine(tail.Length > 0 ? $"!! daemon output (last lines, --log-level {options.LogLevel}):\n{tail}" : "!! the daemon printed nothing");
                }
            }
            return false;
        }
    }

    // ---------------------------------------------------------------- pod cycle

    /// <summary>RunPodSandbox, CreateContainer(/bin/true), StartContainer, poll until EXITED, StopPodSandbox, RemovePodSandbox.</summary>
    private async Task PodCycleAsync(bool record)
    {
        Daemon d = D;
        PodSandboxConfig pod = Cri.PodConfig(d, $"cycle-{_podSeq++}");
        ContainerConfig container = Cri.ContainerConfig("true", "/bin/true");
        var clock = Stopwatch.StartNew();

        string podId = (await Cri.CallAsync("RunPodSandbox", () =>
            d.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = pod }, Call).ResponseAsync)).PodSandboxId;
        double tRun = clock.Elapsed.TotalMilliseconds;
        _pods.Add(podId);

        string id = (await Cri.CallAsync("CreateContainer", () => d.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = podId, Config = container, SandboxConfig = pod,
        }, Call).ResponseAsync)).ContainerId;
        double tCreate = clock.Elapsed.TotalMilliseconds;

        await Cri.CallAsync("StartContainer", () =>
            d.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id }, Call).ResponseAsync);
        double tStart = clock.Elapsed.TotalMilliseconds;

        // The CRI has no wait call: poll as tightly as the daemon answers.
        ContainerStatus status;
        var statusRequest = new ContainerStatusRequest { ContainerId = id };
        while (true)
        {
            status = (await Cri.CallAsync("ContainerStatus", () =>
                d.Runtime.ContainerStatusAsync(statusRequest, Call).ResponseAsync)).Status;
            if (status.State == ContainerState.ContainerExited) break;
            if (clock.Elapsed.TotalMilliseconds - tStart > ExitTimeout.TotalMilliseconds)
                throw new BenchException($"container {id} running /bin/true was still {status.State} {ExitTimeout.TotalSeconds:F0} s after StartContainer returned");
        }
        double tExited = clock.Elapsed.TotalMilliseconds;

        await Cri.CallAsync("StopPodSandbox", () =>
            d.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId }, Call).ResponseAsync);
        double tStop = clock.Elapsed.TotalMilliseconds;
        await Cri.CallAsync("RemovePodSandbox", () =>
            d.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId }, Call).ResponseAsync);
        double tRemove = clock.Elapsed.TotalMilliseconds;
        _pods.Remove(podId);

        if (status.ExitCode != 0)
            Note($"/bin/true exited with status {status.ExitCode} (reason \"{status.Reason}\", message \"{status.Message}\")");
        if (!record) return;
        Step("RunPodSandbox").Add(tRun);
        Step("CreateContainer").Add(tCreate - tRun);
        Step("StartContainer").Add(tStart - tCreate);
        Step("start -> EXITED (/bin/true)").Add(tExited - tStart);
        Step("StopPodSandbox").Add(tStop - tExited);
        Step("RemovePodSandbox").Add(tRemove - tStop);
        Step("pod+container to running").Add(tStart);
        Step("whole pod cycle").Add(tRemove);
    }

    private void Note(string note)
    {
        if (_notes.Contains(note)) return;
        _notes.Add(note);
        Console.WriteLine($"note: {note}");
    }

    // ---------------------------------------------------------------- timed loop

    private async Task TimedLoopAsync(bool ours)
    {
        Console.WriteLine($"\ntimed: {options.Iterations} iterations, order per iteration: " +
            string.Join(", ", (ours ? ["pod cycle"] : Array.Empty<string>()).Concat(_runtimes.Select(r => $"{r.Name} run"))));
        var failed = new HashSet<string>();
        for (int i = 0; i < options.Iterations; i++)
        {
            cancel.ThrowIfCancellationRequested();
            if (ours && !failed.Contains("pod cycle"))
            {
                try { await PodCycleAsync(record: true); }
                catch (Exception e) when (!cancel.IsCancellationRequested)
                {
                    failed.Add("pod cycle");
                    await Section($"pod cycle (iteration {i + 1})", () => Task.FromException(e));
                    await RemoveLeftoverPodsAsync();
                }
            }
            foreach (OciRuntime runtime in _runtimes)
            {
                if (failed.Contains(runtime.Name)) continue;
                try { _reference[runtime.Name].Add(await runtime.RunOnceAsync(cancel)); }
                catch (Exception e) when (!cancel.IsCancellationRequested)
                {
                    failed.Add(runtime.Name);
                    await Section($"{runtime.Name} run (iteration {i + 1})", () => Task.FromException(e));
                }
            }
            if ((i + 1) % 10 == 0 || i + 1 == options.Iterations)
                Console.WriteLine($"  {i + 1}/{options.Iterations}" + (Step("whole pod cycle").Count > 0
                    ? $"  pod cycle median so far {Step("whole pod cycle").Median:F2} ms" : "") +
                    string.Concat(_runtimes.Where(r => _reference[r.Name].Count > 0)
                        .Select(r => $", {r.Name} {_reference[r.Name].Median:F2} ms")));
        }
    }

    /// <summary>After a failed cycle: the pods it left, removed through the CRI so the next part starts clean.</summary>
    private async Task RemoveLeftoverPodsAsync()
    {
        foreach (string podId in _pods.ToList())
        {
            try
            {
                await D.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId }, Call);
                _pods.Remove(podId);
            }
            catch (RpcException e) when (!cancel.IsCancellationRequested)
            {
                Console.WriteLine($"!! RemovePodSandbox {podId} after the failure also failed: {e.StatusCode} \"{e.Status.Detail}\"");
            }
        }
    }

    // ---------------------------------------------------------------- reference runtimes

    private async Task PrepareReferenceAsync()
    {
        string[] names = ["crun", "runc"];
        List<string> missing = [.. names.Where(n => OciRuntime.Find(n) is null)];
        if (missing.Count > 0) await InstallAsync(missing);

        IReadOnlyList<string>? layers = null;
        foreach (string name in names)
        {
            string? path = OciRuntime.Find(name);
            if (path is null)
            {
                _referenceSkipped[name] = _referenceSkipped.GetValueOrDefault(name) ?? $"{name} is not installed";
                continue;
            }
            try
            {
                layers ??= BaseImageLayers();
                OciRuntime runtime = await OciRuntime.PrepareAsync(name, path, Path.Combine(_dir!, "oci-" + name), layers, cancel);
                _prepared.Add(runtime); // listed before its first run, so cleanup covers it
                try
                {
                    for (int i = 0; i < 2; i++) await runtime.RunOnceAsync(cancel); // warm-up
                }
                catch (BenchException e) when (e.Message.Contains("cgroups in hybrid mode", StringComparison.Ordinal))
                {
                    // crun (1.8 at least) refuses any cgroup v1 ("hybrid") host whose v2 hierarchy still has a
                    // controller, even with --cgroup-manager=disabled and no cgroup mount; changing the host's
                    // cgroup layout to please it is not the bench's business.
                    string controllers = File.Exists("/sys/fs/cgroup/unified/cgroup.controllers")
                        ? File.ReadAllText("/sys/fs/cgroup/unified/cgroup.controllers").Trim() : "?";
                    throw new BenchException($"{runtime.Version} cannot run containers on this host: it refuses cgroup v1 " +
                        $"hierarchies with controllers left on the v2 one (/sys/fs/cgroup/unified/cgroup.controllers: \"{controllers}\"); it said: {e.Message}");
                }
                _reference[name] = new Samples($"{name} run");
                _runtimes.Add(runtime);
                Console.WriteLine($"reference: {runtime.Version} ({path}), bundle {runtime.Bundle}");
            }
            catch (Exception e) when (!cancel.IsCancellationRequested)
            {
                string why = e is BenchException ? e.Message : e.ToString();
                _referenceSkipped[name] = $"setup failed: {why}";
                Console.WriteLine($"!! reference {name} skipped: {why}");
            }
        }
    }

    /// <summary>One try per missing package at `apt-get install -y`; a failure means that runtime is skipped.</summary>
    private async Task InstallAsync(List<string> missing)
    {
        string? aptGet = OciRuntime.Find("apt-get");
        string why = !options.Install ? "--no-install given"
            : Native.GetEuid() != 0 ? "not root, so no apt-get install"
            : aptGet is null ? "no apt-get on this machine" : "";
        if (why.Length > 0)
        {
            foreach (string name in missing) _referenceSkipped[name] = $"{name} is not installed ({why})";
            return;
        }
        var env = new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" };
        bool haveLists = Directory.Exists("/var/lib/apt/lists") &&
            Directory.EnumerateFiles("/var/lib/apt/lists", "*Packages*").Any();
        if (!haveLists)
        {
            Console.WriteLine("apt: no package lists yet, running apt-get update");
            ToolResult update = await Tool.RunAsync(aptGet!, ["update"], check: false, env: env, cancel: cancel);
            if (update.ExitCode != 0) Console.WriteLine($"apt-get update exited with status {update.ExitCode}");
        }
        foreach (string name in missing)
        {
            Console.WriteLine($"apt: {name} is not installed, trying `apt-get install -y {name}`");
            ToolResult install = await Tool.RunAsync(aptGet!, ["install", "-y", "--no-install-recommends", name],
                check: false, env: env, cancel: cancel);
            if (install.ExitCode == 0 && OciRuntime.Find(name) is not null)
            {
                _notes.Add($"{name} installed with apt-get for the reference runs");
                continue;
            }
            string tail = string.Join(" | ", (install.Stderr + install.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(3));
            _referenceSkipped[name] = $"{name} is not installed and `apt-get install -y {name}` failed (status {install.ExitCode}): {tail}";
            Console.WriteLine($"!! {_referenceSkipped[name]}");
        }
    }

    /// <summary>The base image's unpacked layer dirs, bottom first: ROOT/images/layers/sha256/HEX/fs.</summary>
    private IReadOnlyList<string> BaseImageLayers()
    {
        string store = Path.Combine(D.Root, "images");
        string layersDir = Path.Combine(store, "layers", "sha256");
        foreach (string file in Directory.Exists(Path.Combine(store, "images"))
                     ? Directory.EnumerateFiles(Path.Combine(store, "images"), "*.json") : [])
        {
            try
            {
                JsonObject? record = JsonNode.Parse(File.ReadAllText(file))?.AsObject();
                if (record is null) continue;
                JsonNode? tags = Property(record, "repoTags"), diffIds = Property(record, "layerDiffIds");
                if (tags is not JsonArray tagList || diffIds is not JsonArray ids) continue;
                if (!tagList.Any(t => t?.GetValue<string>() == Cri.BaseImage)) continue;
                List<string> dirs = [.. ids.Select(x => Path.Combine(layersDir, x!.GetValue<string>().Split(':').Last(), "fs"))];
                if (dirs.Count > 0 && dirs.All(Directory.Exists)) return dirs;
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or IOException) { }
        }
        List<string> all = Directory.Exists(layersDir)
            ? [.. Directory.EnumerateDirectories(layersDir).Select(d => Path.Combine(d, "fs")).Where(Directory.Exists)]
            : [];
        if (all.Count == 1) return all;
        throw new BenchException($"cannot tell the base image's layers: {all.Count} layer dirs under {layersDir} and no image record naming {Cri.BaseImage}");
    }

    private static JsonNode? Property(JsonObject o, string name) =>
        o.FirstOrDefault(p => string.Equals(p.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    // ---------------------------------------------------------------- memory

    private async Task MemoryAsync()
    {
        Daemon d = D;
        int n = options.Pods;
        Console.WriteLine($"\nmemory: starting {n} pods, one `sleep 600` container each");
        var made = new List<(string Pod, string Container)>();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < n; i++)
        {
            PodSandboxConfig pod = Cri.PodConfig(d, $"mem-{i}");
            string podId = (await Cri.CallAsync($"RunPodSandbox (memory pod {i})", () =>
                d.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = pod }, Call).ResponseAsync)).PodSandboxId;
            _pods.Add(podId);
            string id = (await Cri.CallAsync($"CreateContainer (memory pod {i})", () => d.Runtime.CreateContainerAsync(new CreateContainerRequest
            {
                PodSandboxId = podId, Config = Cri.ContainerConfig("sleep", "sleep", "600"), SandboxConfig = pod,
            }, Call).ResponseAsync)).ContainerId;
            await Cri.CallAsync($"StartContainer (memory pod {i})", () =>
                d.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id }, Call).ResponseAsync);
            made.Add((podId, id));
        }
        double startAllMs = clock.Elapsed.TotalMilliseconds;
        Console.WriteLine($"memory: {n} pods running after {startAllMs:F0} ms");
        await Task.Delay(1000, cancel); // let the monitors and the daemon settle

        string? hostPidNs = ProcFs.PidNamespace(Environment.ProcessId);
        var monitorRss = new List<long>();
        var monitorPss = new List<long>();
        var infraRss = new List<long>();
        var problems = new List<string>();
        foreach (var (podId, id) in made)
        {
            var response = await Cri.CallAsync("ContainerStatus (verbose)", () =>
                d.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id, Verbose = true }, Call).ResponseAsync);
            if (response.Status.State != ContainerState.ContainerRunning)
                problems.Add($"container {id} is {response.Status.State} (exit {response.Status.ExitCode}, reason \"{response.Status.Reason}\", message \"{response.Status.Message}\"), wanted RUNNING");
            if (!response.Info.TryGetValue("info", out string? infoJson))
                throw new BenchException($"verbose ContainerStatus of {id} has no info[\"info\"] (keys: {string.Join(", ", response.Info.Keys)})");
            JsonObject info = JsonNode.Parse(infoJson)?.AsObject() ?? throw new BenchException($"info[\"info\"] is not a JSON object: {infoJson}");
            int monitorPid = (int?)Property(info, "monitorPid")?.GetValue<long>() ?? 0;
            int pid = (int?)Property(info, "pid")?.GetValue<long>() ?? 0;
            Track(pid, $"container {id[..Math.Min(12, id.Length)]}");
            Track(monitorPid, $"monitor of {id[..Math.Min(12, id.Length)]}");
            if (monitorPid <= 0 || !ProcFs.Alive(monitorPid))
            {
                problems.Add($"container {id}: monitorPid {monitorPid} is not a live process (info {infoJson})");
                continue;
            }
            string? comm = ProcFs.Comm(monitorPid);
            if (comm != "jailshim-shim") problems.Add($"monitor {monitorPid} of {id} is named \"{comm}\", not jailshim-shim");
            if (ProcFs.PidNamespace(monitorPid) != hostPidNs) problems.Add($"monitor {monitorPid} of {id} is inside a pid namespace of its own ({ProcFs.PidNamespace(monitorPid)})");
            if (ProcFs.StatusKiB(monitorPid, "VmRSS") is { } rss) monitorRss.Add(rss);
            if (ProcFs.PssKiB(monitorPid) is { } pss) monitorPss.Add(pss);

            // The pod's infra process, for the per-pod picture (not part of the monitor target).
            try
            {
                var podStatus = await d.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = podId, Verbose = true }, Call);
                if (podStatus.Info.TryGetValue("info", out string? podInfo) &&
                    JsonNode.Parse(podInfo) is JsonObject pi && Property(pi, "pid")?.GetValue<long>() is long infraPid and > 0)
                {
                    Track((int)infraPid, $"pod infra {podId[..Math.Min(12, podId.Length)]}");
                    if (ProcFs.StatusKiB((int)infraPid, "VmRSS") is { } irss) infraRss.Add(irss);
                }
            }
            catch (RpcException) when (!cancel.IsCancellationRequested) { }
        }
        long? daemonRss = ProcFs.StatusKiB(d.Pid, "VmRSS");
        long? daemonPss = ProcFs.PssKiB(d.Pid);
        long? daemonHwm = ProcFs.StatusKiB(d.Pid, "VmHWM");
        foreach (string p in problems.Take(10)) Console.WriteLine($"!! memory: {p}");
        if (problems.Count > 10) Console.WriteLine($"!! memory: ... {problems.Count - 10} more");

        // The numbers first, so a failure while removing the pods still reports them.
        _memory["pods"] = n;
        _memory["start_all_ms"] = Math.Round(startAllMs, 1);
        _memory["daemon_rss_idle_kib"] = _idleRssKiB;
        _memory["daemon_rss_kib"] = daemonRss;
        _memory["daemon_pss_kib"] = daemonPss;
        _memory["daemon_hwm_kib"] = daemonHwm;
        _memory["monitors_measured"] = monitorRss.Count;
        _memory["monitor_rss_avg_kib"] = monitorRss.Count > 0 ? Math.Round(monitorRss.Average(), 1) : null;
        _memory["monitor_rss_max_kib"] = monitorRss.Count > 0 ? monitorRss.Max() : null;
        _memory["monitor_pss_avg_kib"] = monitorPss.Count > 0 ? Math.Round(monitorPss.Average(), 1) : null;
        _memory["monitor_pss_max_kib"] = monitorPss.Count > 0 ? monitorPss.Max() : null;
        _memory["infra_rss_avg_kib"] = infraRss.Count > 0 ? Math.Round(infraRss.Average(), 1) : null;

        // Remove them the kubelet's way: stop, then remove. A failed call is counted (with the daemon's
        // exact answer) and tried once more, so one bad pod does not hide what the others do.
        clock.Restart();
        var failures = new List<string>();
        int retried = 0, retryFailed = 0;
        foreach (var (podId, _) in made)
        {
            cancel.ThrowIfCancellationRequested();
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    await Cri.CallAsync("StopPodSandbox", () =>
                        d.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId }, Call).ResponseAsync);
                    await Cri.CallAsync("RemovePodSandbox", () =>
                        d.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId }, Call).ResponseAsync);
                    _pods.Remove(podId);
                    break;
                }
                catch (BenchException e) when (!cancel.IsCancellationRequested)
                {
                    failures.Add($"pod {podId[..12]} (attempt {attempt}): {e.Message}");
                    if (attempt == 1) { retried++; continue; }
                    retryFailed++;
                    break;
                }
            }
        }
        double removeAllMs = clock.Elapsed.TotalMilliseconds;
        _memory["remove_all_ms"] = Math.Round(removeAllMs, 1);
        _memory["daemon_rss_after_remove_kib"] = ProcFs.StatusKiB(d.Pid, "VmRSS");
        _memory["remove_failures"] = new JsonArray([.. failures.Select(f => (JsonNode?)f)]);
        Console.WriteLine($"memory: {n} pods stopped and removed in {removeAllMs:F0} ms" +
            (failures.Count > 0 ? $"; {retried} pod(s) needed a second try, {retryFailed} failed twice" : ""));
        if (retried > 0)
            problems.Add($"StopPodSandbox/RemovePodSandbox failed for {retried} of {n} running pods " +
                $"({retried - retryFailed} then succeeded on a second try, {retryFailed} failed twice); first: {failures[0]}");

        // What the daemon made for these pods must be gone; exited ones may wait a moment for pid 1 to reap them.
        List<ProcIdentity> left = [], zombies = [];
        for (var wait = Stopwatch.StartNew(); wait.Elapsed < TimeSpan.FromSeconds(3); await Task.Delay(100, cancel))
        {
            left = [.. _madeForUs.Where(p => p.StillAlive)];
            zombies = [.. _madeForUs.Where(p => p.Zombie)];
            if (left.Count == 0 && zombies.Count == 0) break;
        }
        _memory["unreaped_3s_after_remove"] = zombies.Count;
        if (zombies.Count > 0)
        {
            int parent = ProcFs.PPid(zombies[0].Pid) ?? 0;
            Note($"{zombies.Count} of the {_madeForUs.Count} container/monitor/infra processes of the memory pods exited but were still " +
                $"unreaped zombies 3 s later ({string.Join(", ", zombies.GroupBy(z => z.Role.Split(' ')[0]).Select(g => $"{g.Count()} {g.Key}"))}); " +
                $"their parent is pid {parent} ({ProcFs.Comm(parent)}): the daemon leaves its monitors and pod infra processes to pid 1. " +
                $"E.g. {zombies[0].Describe()}");
        }
        if (left.Count > 0)
        {
            var byRole = left.GroupBy(p => p.Role.Split(' ')[0] + " (state " + ProcIdentity.StateOf(p.Pid) + ")");
            problems.Add($"{left.Count} of the {_madeForUs.Count} container/monitor/infra processes still run 3 s after the pods were removed " +
                $"({string.Join(", ", byRole.Select(g => $"{g.Count()} {g.Key}"))}); e.g. {string.Join("; ", left.Take(3).Select(p => p.Describe()))}");
        }
        _memory["problems"] = new JsonArray([.. problems.Select(p => (JsonNode?)p)]);
        if (problems.Count > 0)
            throw new BenchException($"{problems.Count} problem(s) with the {n} pods:\n    " + string.Join("\n    ", problems));
    }

    private void Track(int pid, string role)
    {
        if (pid > 0 && ProcIdentity.Of(pid, role) is { } identity) _madeForUs.Add(identity);
    }

    // ---------------------------------------------------------------- report

    private JsonObject Report(string loadStart)
    {
        string loadEnd = LoadAverage();
        Console.WriteLine($"\n== CRI steps (ms), {Step("whole pod cycle").Count} iterations; load {loadStart} -> {loadEnd}");
        var rows = new List<string[]>();
        foreach (Samples s in _steps.Values)
        {
            string target = s.Name switch
            {
                "pod+container to running" => "< 15 ms",
                "whole pod cycle" => "<= 2x crun run",
                _ => "",
            };
            rows.Add([s.Name, s.Count.ToString(CultureInfo.InvariantCulture), F(s.Median), F(s.P90), F(s.Min), target]);
        }
        Table(["step", "n", "median", "p90", "min", "target"], rows);

        var ratios = new JsonObject();
        var reference = new JsonObject();
        Samples cycle = Step("whole pod cycle");
        if (options.Reference)
        {
            Console.WriteLine("\n== reference runtimes: `RUNTIME run --bundle B ID` of /bin/true (ms), interleaved with the pod cycles");
            rows.Clear();
            foreach (string name in new[] { "crun", "runc" })
            {
                if (_reference.TryGetValue(name, out Samples? s) && s.Count > 0)
                {
                    rows.Add([$"{name} run", s.Count.ToString(CultureInfo.InvariantCulture), F(s.Median), F(s.P90), F(s.Min)]);
                    JsonObject j = s.ToJson();
                    j["version"] = _runtimes.FirstOrDefault(r => r.Name == name)?.Version;
                    reference[name] = j;
                }
                else
                {
                    string why = _referenceSkipped.GetValueOrDefault(name) ?? "no successful run";
                    rows.Add([$"{name} run", "0", "-", "-", "-"]);
                    reference[name] = new JsonObject { ["skipped"] = why };
                }
            }
            Table(["runtime", "n", "median", "p90", "min"], rows);
            foreach (var (name, why) in _referenceSkipped) Console.WriteLine($"  {name} skipped: {why}");
            foreach (string name in new[] { "crun", "runc" })
            {
                if (!_reference.TryGetValue(name, out Samples? s) || s.Count == 0 || cycle.Count == 0) continue;
                double ratio = cycle.Median / s.Median;
                ratios[$"pod_cycle/{name}_run"] = Math.Round(ratio, 3);
                Console.WriteLine($"  pod cycle / {name} run = {ratio:F2}x" + (name == "crun" ? "   (target <= 2x)" : ""));
            }
        }

        if (_memory.Count > 0)
        {
            Console.WriteLine($"\n== memory with {_memory["pods"]} pods (one `sleep 600` container each)");
            Table(["what", "KiB", "target"],
            [
                ["daemon VmRSS (idle, after warm-up)", K(_memory["daemon_rss_idle_kib"]), ""],
                ["daemon VmRSS", K(_memory["daemon_rss_kib"]), "< 100 MiB"],
                ["daemon Pss", K(_memory["daemon_pss_kib"]), ""],
                ["daemon VmHWM (peak)", K(_memory["daemon_hwm_kib"]), ""],
                ["daemon VmRSS after removing them", K(_memory["daemon_rss_after_remove_kib"]), ""],
                ["monitor VmRSS avg", K(_memory["monitor_rss_avg_kib"]), "< 1 MiB"],
                ["monitor VmRSS max", K(_memory["monitor_rss_max_kib"]), "< 1 MiB"],
                ["monitor Pss avg", K(_memory["monitor_pss_avg_kib"]), ""],
                ["monitor Pss max", K(_memory["monitor_pss_max_kib"]), ""],
                ["pod infra VmRSS avg (info)", K(_memory["infra_rss_avg_kib"]), ""],
            ]);
            Console.WriteLine($"  {_memory["monitors_measured"]} monitors measured; starting all took {_memory["start_all_ms"]} ms, stop+remove all {_memory["remove_all_ms"]} ms");
        }

        // Summary
        var summary = new JsonArray();
        rows.Clear();
        void Row(string metric, double? value, string unit, string target, bool? met)
        {
            string shown = value is null || !double.IsFinite(value.Value) ? "n/a" : $"{value.Value:F2} {unit}";
            string status = met is { } m ? (m ? "met" : "MISSED") : target.Length > 0 && value is null ? "no data" : "-";
            rows.Add([metric, shown, target, status]);
            summary.Add(new JsonObject
            {
                ["metric"] = metric,
                ["value"] = value is null ? null : Samples.Round(value.Value),
                ["unit"] = unit,
                ["target"] = target,
                ["met"] = met,
            });
        }
        double? Med(string step) => Step(step).Count > 0 ? Step(step).Median : null;
        double? toRunning = Med("pod+container to running");
        Row("pod+container to running (median)", toRunning, "ms", "< 15 ms", toRunning is null ? null : toRunning < 15);
        Row("whole pod cycle (median)", Med("whole pod cycle"), "ms", "", null);
        foreach (string name in new[] { "crun", "runc" })
        {
            double? r = Num(ratios[$"pod_cycle/{name}_run"]);
            double? refMedian = _reference.TryGetValue(name, out Samples? s) && s.Count > 0 ? s.Median : null;
            Row($"{name} run (median)", refMedian, "ms", "", null);
            Row($"pod cycle / {name} run", r, "x", name == "crun" ? "<= 2x" : "", name == "crun" && r is not null ? r <= 2 : null);
        }
        double? monAvg = Num(_memory["monitor_rss_avg_kib"]), monMax = Num(_memory["monitor_rss_max_kib"]);
        Row("monitor VmRSS per container (avg)", monAvg, "KiB", "< 1024 KiB", monAvg is null ? null : monAvg < 1024);
        Row("monitor VmRSS per container (max)", monMax, "KiB", "< 1024 KiB", monMax is null ? null : monMax < 1024);
        Row("monitor Pss per container (avg)", Num(_memory["monitor_pss_avg_kib"]), "KiB", "", null);
        double? dRss = Num(_memory["daemon_rss_kib"]) is { } kib ? kib / 1024 : null;
        Row($"daemon VmRSS with {options.Pods} pods", dRss, "MiB", "< 100 MiB", dRss is null ? null : dRss < 100);
        Console.WriteLine("\n== summary");
        Table(["metric", "value", "target", "status"], rows);

        if (_notes.Count > 0)
        {
            Console.WriteLine("\nnotes:");
            foreach (string note in _notes) Console.WriteLine($"  - {note}");
        }
        if (_errors.Count > 0)
        {
            Console.WriteLine("\nERRORS:");
            foreach (string error in _errors) Console.WriteLine($"  - {error}");
        }

        return new JsonObject
        {
            ["schema"] = 1,
            ["timestamp"] = DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            ["status"] = _errors.Count == 0 ? "ok" : "errors",
            ["host"] = new JsonObject
            {
                ["cpus"] = Environment.ProcessorCount,
                ["kernel"] = Environment.OSVersion.Version.ToString(),
                ["load_start"] = loadStart,
                ["load_end"] = loadEnd,
            },
            ["options"] = new JsonObject
            {
                ["iterations"] = options.Iterations,
                ["warmup"] = options.Warmup,
                ["pods"] = options.Pods,
                ["daemon"] = options.DaemonBinary,
                ["daemon_log_level"] = options.LogLevel,
            },
            ["daemon_start_ms"] = Samples.Round(_daemonStartMs),
            ["steps"] = new JsonObject(_steps.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value.ToJson()))),
            ["reference"] = reference,
            ["ratios"] = ratios,
            ["memory"] = _memory.DeepClone(),
            ["pull"] = _pull?.DeepClone(),
            ["summary"] = summary,
            ["notes"] = new JsonArray([.. _notes.Select(n => (JsonNode?)n)]),
            ["errors"] = new JsonArray([.. _errors.Select(e => (JsonNode?)e)]),
        };
    }

    private static double? Num(JsonNode? node) =>
        node is not JsonValue v ? null
        : v.TryGetValue(out double d) ? d
        : v.TryGetValue(out long l) ? l
        : v.TryGetValue(out int i) ? i
        : null;

    private static string F(double v) => double.IsFinite(v) ? v.ToString("F2", CultureInfo.InvariantCulture) : "-";

    private static string K(JsonNode? node) => node is null ? "n/a" : node.ToJsonString();

    private static void Table(string[] headers, List<string[]> rows)
    {
        int[] widths = [.. headers.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length)))];
        string Line(string[] cells) => "  " + string.Join("  ", cells.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))).TrimEnd();
        Console.WriteLine(Line(headers));
        Console.WriteLine("  " + string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (string[] row in rows) Console.WriteLine(Line(row));
    }

    private static string LoadAverage()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "?"; }
    }

    // ---------------------------------------------------------------- cleanup

    /// <summary>
    /// Undoes everything, whatever state the run is in: pods through the CRI (restarting the daemon on
    /// the same dirs if it died), the daemon with SIGTERM, the reference containers, mounts, cgroups
    /// and the temp dir. Only ever signals processes by pid that the bench started or the daemon
    /// started for it (checked by name and start time).
    /// </summary>
    public async Task CleanupAsync()
    {
        if (_dir is null) return;
        Console.Out.Flush();
        await Try("remove pods", RemovePodsAsync);
        await Try("stop daemon", async () => { if (_daemon is not null) await _daemon.DisposeAsync(); });
        foreach (OciRuntime runtime in _prepared) await Try($"{runtime.Name} containers", runtime.CleanupAsync);
        await Try("last-resort kill", () =>
        {
            List<ProcIdentity> left = [.. _madeForUs.Where(p => p.StillAlive)];
            if (left.Count > 0)
                Console.Error.WriteLine($"cleanup: {left.Count} process(es) the daemon made for our pods outlived them and the daemon; SIGKILL to each, e.g. {left[0].Describe()}");
            foreach (ProcIdentity p in left) Native.Kill(p.Pid, Native.SIGKILL);
            return Task.CompletedTask;
        });
        await Try("mounts", () =>
        {
            foreach (string point in ProcFs.MountsBelow(_dir))
                if (Native.Umount2(point, Native.MNT_DETACH) != 0)
                    Console.Error.WriteLine($"cleanup: umount {point} failed (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
            return Task.CompletedTask;
        });
        await Try("cgroups", () =>
        {
            string name = "jailshim-bench-" + Path.GetFileName(_dir);
            foreach (string cg in ProcFs.CgroupDirs(name))
                foreach (string sub in Directory.EnumerateDirectories(cg, "*", SearchOption.AllDirectories).Append(cg).OrderByDescending(p => p.Length))
                    try { Directory.Delete(sub); }
                    catch (IOException e) { Console.Error.WriteLine($"cleanup: rmdir {sub}: {e.Message}"); }
            return Task.CompletedTask;
        });
        await Try("temp dir", () =>
        {
            Directory.Delete(_dir, recursive: true);
            return Task.CompletedTask;
        });
    }

    private async Task RemovePodsAsync()
    {
        if (_daemon is null) return;
        if (_daemon.HasExited && _pods.Count > 0)
        {
            Console.Error.WriteLine($"cleanup: the daemon exited (status {_daemon.ExitCode}) with {_pods.Count} pod(s) left; restarting it on the same dirs to remove them");
            await _daemon.DisposeAsync();
            using var startTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            _daemon = await Daemon.StartAsync(options.DaemonBinary, _dir!, options.LogLevel, startTimeout.Token);
        }
        if (_daemon.HasExited) return;
        var deadline = DateTime.UtcNow.AddSeconds(120);
        ListPodSandboxResponse pods = await _daemon.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest(), deadline: deadline);
        if (pods.Items.Count > 0) Console.Error.WriteLine($"cleanup: removing {pods.Items.Count} pod(s) left in the daemon");
        foreach (PodSandbox pod in pods.Items)
        {
            try
            {
                await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod.Id }, deadline: deadline);
                _pods.Remove(pod.Id);
            }
            catch (RpcException e)
            {
                Console.Error.WriteLine($"cleanup: RemovePodSandbox {pod.Id}: {e.StatusCode} \"{e.Status.Detail}\"; trying StopPodSandbox first");
                try
                {
                    await _daemon.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod.Id }, deadline: deadline);
                    await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod.Id }, deadline: deadline);
                    _pods.Remove(pod.Id);
                }
                catch (RpcException again)
                {
                    Console.Error.WriteLine($"cleanup: pod {pod.Id} could not be removed: {again.StatusCode} \"{again.Status.Detail}\"");
                }
            }
        }
    }

    private static async Task Try(string what, Func<Task> step)
    {
        try { await step(); }
        catch (Exception e)
        {
            Console.Error.WriteLine($"cleanup ({what}) failed: {(e is BenchException or RpcException ? e.Message : e.ToString())}");
        }
    }
}
