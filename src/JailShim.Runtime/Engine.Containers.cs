using JailShim.Runtime.Cgroups;
using JailShim.Runtime.Images;
using JailShim.Runtime.Pods;
using JailShim.Runtime.Shim;
using JailShim.Runtime.Specs;
using JailShim.Runtime.State;
using Microsoft.Extensions.Logging;

namespace JailShim.Runtime;

public sealed partial class Engine
{
    private const int SigKill = 9;
    private const int SigTerm = 15;

    private static string ContainerKey(string podId, ContainerSpec spec) => $"{podId}\0{spec.Name}\0{spec.Attempt}";

    private MonitorClient Monitor(string containerId) => new(Path.Combine(MonitorSocketDir, containerId));

    /// <summary>Makes a container, jailed and waiting for StartContainer.</summary>
    public async Task<string> CreateContainerAsync(string podId, ContainerSpec spec, CancellationToken cancellationToken)
    {
        if (spec.Name.Length == 0) throw EngineException.Invalid("config.metadata.name", "must not be empty");
        if (spec.Image.Length == 0) throw EngineException.Invalid("config.image.image", "must not be empty");
        SandboxRecord pod = FindSandbox(podId) ?? throw EngineException.NotFound("pod sandbox", podId);
        if (pod.Phase != SandboxPhase.Ready)
            throw new EngineException(EngineErrorKind.FailedPrecondition, $"pod sandbox {pod.Id} is not ready");
        // Held until the container is recorded (or rolled back): image garbage collection keeps its layers meanwhile.
        using ImageHold hold = HoldImage(spec.Image);
        StoredImage image = hold.Image;

        string logPath = "";
        if (spec.LogPath.Length > 0)
        {
            if (pod.Spec.LogDirectory.Length == 0)
                throw EngineException.Invalid("config.log_path", "the pod sandbox has no log_directory");
            logPath = Path.Combine(pod.Spec.LogDirectory, PathGuard.Relative("config.log_path", spec.LogPath));
        }
        foreach (MountSpec mount in spec.Mounts)
        {
            PathGuard.Absolute("config.mounts.host_path", mount.HostPath);
            PathGuard.Absolute("config.mounts.container_path", mount.ContainerPath);
        }
        if (spec.WorkingDir.Length > 0) PathGuard.Absolute("config.working_dir", spec.WorkingDir);
        List<string> argv = CommandLine(spec, image.Config);
        ulong capabilities = CapabilityMask(spec);

        string id = NewId();
        string key = ContainerKey(pod.Id, spec);
        if (_names.Reserve(key, id) is { } holder)
            throw new EngineException(EngineErrorKind.AlreadyExists,
                $"container \"{spec.Name}\" (attempt {spec.Attempt}) already exists in pod {pod.Id} as {holder}");

        var record = new ContainerRecord
        {
            Id = id,
            PodId = pod.Id,
            Spec = spec,
            CreatedAtNs = NowNs(),
            Creating = true,
            ImageId = image.Id,
            ImageRef = image.RepoDigests.FirstOrDefault() ?? image.Id,
            LayerDiffIds = image.LayerDiffIds,
            LogPath = logPath,
            CgroupPath = $"{pod.CgroupPath}/{id}",
            StopSignal = image.Config.StopSignal ?? "",
        };
        string dir = _state.ContainerDir(id);
        try
        {
            foreach (string sub in new[] { "rootfs", "upper", "work" })
                Directory.CreateDirectory(Path.Combine(dir, sub));
            await _state.SaveAsync(record, cancellationToken);
            if (logPath.Length > 0) Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
            foreach (MountSpec mount in spec.Mounts)
                if (!Path.Exists(mount.HostPath)) Directory.CreateDirectory(mount.HostPath); // as containerd does

            CgroupLimits limits = spec.Resources with { PidsLimit = spec.Resources.PidsLimit ?? _options.DefaultPidsLimit };
            Cgroup cgroup = Phase("cgroup.create", pod.Id, id, () => _cgroups.Create(record.CgroupPath, limits), record.CgroupPath);

            ShimSpec shimSpec = BuildContainerSpec(pod, record, image, cgroup, argv, capabilities);
            ShimResult created = await _shim.RunAsync("container", shimSpec, pod.Id, id, CancellationToken.None);
            record.Pid = created.Pid;
            record.MonitorPid = created.MonitorPid;
            record.Creating = false;
            await _state.SaveAsync(record, CancellationToken.None);
            _containers[id] = record;
            return id;
        }
        catch (Exception e)
        {
            _logger.LogWarning("CreateContainer {Name} failed, rolling back: {Error}", spec.Name, e.Message);
            try { await TearDownContainerAsync(record); }
            catch (Exception cleanup) // the first failure is the one to report; this one is logged
            {
                _logger.LogError("rollback of container {Id} left something behind: {Error}", id, cleanup.Message);
            }
            _names.Release(key, id);
            if (e is OperationCanceledException) throw;
            throw Wrap("create container", e);
        }
    }

    private ShimSpec BuildContainerSpec(SandboxRecord pod, ContainerRecord record, StoredImage image, Cgroup cgroup,
        List<string> argv, ulong capabilities)
    {
        ContainerSpec spec = record.Spec;
        string dir = _state.ContainerDir(record.Id);
        var shim = new ShimSpec()
            .Add("state-dir", dir)
            .Add("control", Path.Combine(MonitorSocketDir, record.Id))
            .Add("log-line-max", _options.LogLineMax.ToString());
        if (record.LogPath.Length > 0) shim.Add("log", record.LogPath);
        foreach (string procs in cgroup.ProcsFiles) shim.Add("cgroup", procs);

        NamespaceMode pid = spec.Pid ?? NamespaceMode.Pod;
        var clone = new List<string> { "mnt" };
        if (pid == NamespaceMode.Container) clone.Add("pid");
        shim.Add("clone", string.Join(',', clone));
        foreach (string type in new[] { "net", "ipc", "uts" })
            if (pod.Namespaces.TryGetValue(type, out string? pin)) shim.Add("setns", type, pin);
        if (pid == NamespaceMode.Pod && pod.Namespaces.TryGetValue("pid", out string? pidPin)) shim.Add("setns", "pid", pidPin);

        string workingDir = spec.WorkingDir.Length > 0 ? spec.WorkingDir
            : image.Config.WorkingDir is { Length: > 0 } imageDir ? imageDir : "/";
        string rootfs = Path.Combine(dir, "rootfs");
        ContainerMounts.Add(shim, rootfs, _images.LowerDirs(image), Path.Combine(dir, "upper"), Path.Combine(dir, "work"),
            _state.SandboxDir(pod.Id), spec.Mounts, workingDir, spec.ReadOnlyRootfs, spec.Privileged);
        shim.Add("cwd", workingDir);
        foreach (string env in Environment(spec, image.Config)) shim.Add("env", env);
        foreach (string arg in argv) shim.Add("arg", arg);

        (long uid, long gid) = User(spec, image.Config);
        shim.Add("user", uid.ToString(), gid.ToString());
        if (spec.SupplementalGroups.Count > 0) shim.Add("groups", string.Join(',', spec.SupplementalGroups));
        shim.Add("caps", capabilities.ToString("x"));
        if (spec.NoNewPrivileges) shim.Add("no-new-privs");
        if (spec.OomScoreAdj is { } adj) shim.Add("oom-score-adj", adj.ToString());
        return shim;
    }

    /// <summary>The CRI rules: command replaces the image entrypoint (and drops its cmd); args replace the cmd.</summary>
    private static List<string> CommandLine(ContainerSpec spec, ImageConfig config)
    {
        var argv = new List<string>();
        if (spec.Command.Count > 0)
        {
            argv.AddRange(spec.Command);
            argv.AddRange(spec.Args);
        }
        else
        {
            argv.AddRange(config.Entrypoint ?? []);
            argv.AddRange(spec.Args.Count > 0 ? spec.Args : config.Cmd ?? []);
        }
        if (argv.Count == 0 || argv[0].Length == 0)
            throw EngineException.Invalid("config.command", "no command given and the image has no entrypoint or cmd");
        return argv;
    }

    /// <summary>The image's environment, overridden by the request's, with a PATH always present.</summary>
    private static List<string> Environment(ContainerSpec spec, ImageConfig config)
    {
        var env = new List<KeyValuePair<string, string>>();
        void Set(string name, string value)
        {
            int at = env.FindIndex(e => e.Key == name);
            if (at >= 0) env[at] = new(name, value);
            else env.Add(new(name, value));
        }
        Set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        foreach (string entry in config.Env)
        {
            int eq = entry.IndexOf('=');
            if (eq > 0) Set(entry[..eq], entry[(eq + 1)..]);
        }
        foreach (var (name, value) in spec.Env)
        {
            if (name.Length == 0 || name.Contains('='))
                throw EngineException.Invalid("config.envs", $"bad variable name \"{name}\"");
            Set(name, value);
        }
        return env.Select(e => $"{e.Key}={e.Value}").ToList();
    }

    /// <summary>uid/gid from the request, else the image's numeric USER ("uid" or "uid:gid"), else root.</summary>
    private static (long Uid, long Gid) User(ContainerSpec spec, ImageConfig config)
    {
        long uid = 0, gid = 0;
        if (config.User is { Length: > 0 } user)
        {
            string[] parts = user.Split(':');
            if (long.TryParse(parts[0], out long u)) uid = u;
            if (parts.Length > 1 && long.TryParse(parts[1], out long g)) gid = g;
        }
        if (spec.RunAsUser is { } runAsUser) uid = runAsUser;
        if (spec.RunAsGroup is { } runAsGroup) gid = runAsGroup;
        if (uid < 0 || uid > uint.MaxValue - 1) throw EngineException.Invalid("run_as_user", $"{uid} is out of range");
        if (gid < 0 || gid > uint.MaxValue - 1) throw EngineException.Invalid("run_as_group", $"{gid} is out of range");
        return (uid, gid);
    }

    private ulong CapabilityMask(ContainerSpec spec)
    {
        ulong mask = spec.Privileged ? Capabilities.All : Capabilities.Default;
        foreach (string add in spec.AddCapabilities) mask |= Capabilities.Bit(add);
        foreach (string drop in spec.DropCapabilities) mask &= ~Capabilities.Bit(drop);
        return mask & _capabilityBound;
    }

    /// <summary>Lets the container's process exec.</summary>
    public async Task StartContainerAsync(string id, CancellationToken cancellationToken)
    {
        ContainerRecord record = FindContainer(id) ?? throw EngineException.NotFound("container", id);
        using IDisposable held = await _locks.AcquireAsync(record.Id, cancellationToken);
        ContainerInfo info = Describe(record);
        if (info.State != ContainerState.Created)
            throw new EngineException(EngineErrorKind.FailedPrecondition,
                $"container {record.Id} is {info.State.ToString().ToLowerInvariant()}, not created");
        string[]? reply = await Monitor(record.Id).RequestAsync("start", record.PodId, record.Id, cancellationToken);
        if (reply is ["started", ..]) return;
        string why = reply is null ? "its monitor is gone" : string.Join(' ', reply.Skip(3));
        throw new EngineException(EngineErrorKind.FailedPrecondition, $"start container {record.Id}: {why}");
    }

    /// <summary>Stops a container: its stop signal, then SIGKILL when the timeout (seconds) runs out.</summary>
    public async Task StopContainerAsync(string id, long timeoutSeconds, CancellationToken cancellationToken)
    {
        ContainerRecord? record = FindContainer(id);
        if (record is null) return; // CRI: stopping what is gone succeeds
        using IDisposable held = await _locks.AcquireAsync(record.Id, cancellationToken);
        await StopLockedAsync(record, timeoutSeconds, cancellationToken);
    }

    private async Task StopLockedAsync(ContainerRecord record, long timeoutSeconds, CancellationToken cancellationToken)
    {
        ContainerInfo info = Describe(record);
        if (info.State is ContainerState.Created or ContainerState.Running)
        {
            MonitorClient monitor = Monitor(record.Id);
            int signal = info.State == ContainerState.Running && timeoutSeconds > 0 ? StopSignalNumber(record) : SigKill;
            await monitor.RequestAsync($"kill {signal}", record.PodId, record.Id, cancellationToken);
            bool exited = signal == SigKill || await WaitExitAsync(monitor, record, TimeSpan.FromSeconds(timeoutSeconds), cancellationToken);
            if (!exited) await monitor.RequestAsync($"kill {SigKill}", record.PodId, record.Id, cancellationToken);
            if (!exited || signal == SigKill) await WaitExitAsync(monitor, record, TimeSpan.FromSeconds(30), cancellationToken);
        }
        // Processes that outlived the main one (shared pid namespace) are ours too: they are in our cgroup.
        IReadOnlyList<int> leftovers = _cgroups.Pids(record.CgroupPath);
        if (leftovers.Count > 0)
            Phase("kill", record.PodId, record.Id, () => { foreach (int pid in leftovers) Interop.Sys.Kill(pid, SigKill); });
    }

    private async Task<bool> WaitExitAsync(MonitorClient monitor, ContainerRecord record, TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        using var span = Telemetry.EngineTelemetry.Phase("wait", record.PodId, record.Id);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await monitor.RequestAsync("wait", record.PodId, record.Id, deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            span?.SetTag("jailshim.timed_out", true);
            return false;
        }
        return ExitRecord.Read(_state.ContainerDir(record.Id)) is not null;
    }

    private static int StopSignalNumber(ContainerRecord record) => record.StopSignal.ToUpperInvariant() switch
    {
        "" or "SIGTERM" or "TERM" or "15" => SigTerm,
        "SIGINT" or "INT" or "2" => 2,
        "SIGQUIT" or "QUIT" or "3" => 3,
        "SIGKILL" or "KILL" or "9" => SigKill,
        "SIGHUP" or "HUP" or "1" => 1,
        "SIGUSR1" or "USR1" or "10" => 10,
        "SIGUSR2" or "USR2" or "12" => 12,
        "SIGWINCH" or "WINCH" or "28" => 28,
        var other => int.TryParse(other, out int n) ? n : SigTerm,
    };

    /// <summary>Removes a container, stopping it first; leaves no process, cgroup or state behind.</summary>
    public async Task RemoveContainerAsync(string id, CancellationToken cancellationToken)
    {
        ContainerRecord? record = FindContainer(id);
        if (record is null) return;
        using (await _locks.AcquireAsync(record.Id, cancellationToken))
        {
            if (!_containers.ContainsKey(record.Id)) return;
            await StopLockedAsync(record, 0, cancellationToken);
            await TearDownContainerAsync(record);
            _containers.TryRemove(record.Id, out _);
            _oomKilled.TryRemove(record.Id, out _);
            _names.Release(ContainerKey(record.PodId, record.Spec), record.Id);
        }
        _locks.Forget(record.Id);
        CollectImageGarbage(); // its layers may have been the last use of a removed image
    }

    /// <summary>Undoes a container, whole or half-made: its process, monitor, cgroup and state directory.</summary>
    private async Task TearDownContainerAsync(ContainerRecord record)
    {
        MonitorClient monitor = Monitor(record.Id);
        if (File.Exists(monitor.SocketPath))
        {
            await monitor.RequestAsync($"kill {SigKill}", record.PodId, record.Id, CancellationToken.None);
            await WaitExitAsync(monitor, record, TimeSpan.FromSeconds(30), CancellationToken.None);
        }
        await RemoveCgroupAsync(record.CgroupPath, record.PodId, record.Id);
        DeleteDir(_state.ContainerDir(record.Id));
        File.Delete(monitor.SocketPath);
    }

    public ContainerInfo GetContainer(string id)
    {
        ContainerRecord record = FindContainer(id) ?? throw EngineException.NotFound("container", id);
        return Describe(record);
    }

    public IReadOnlyList<ContainerInfo> ListContainers() => _containers.Values.Select(Describe).ToList();

    /// <summary>Reads where a container is from the monitor's files (they outlive a daemon restart).</summary>
    private ContainerInfo Describe(ContainerRecord record)
    {
        string dir = _state.ContainerDir(record.Id);
        ExitRecord? exit = ExitRecord.Read(dir);
        if (exit is null && !File.Exists(Monitor(record.Id).SocketPath))
            exit = ExitRecord.Read(dir); // the monitor writes the record before it removes its socket
        if (exit is not null)
        {
            bool oom = _oomKilled.GetOrAdd(record.Id, _ => _cgroups.Exists(record.CgroupPath) && _cgroups.WasOomKilled(record.CgroupPath));
            string reason = oom ? "OOMKilled" : exit.Code == 0 ? "Completed" : "Error";
            string message = exit.StartedAtNs == 0 && exit.Code != 0 ? "the process never ran (start failed or it was stopped before start)" : "";
            return new ContainerInfo(record, ContainerState.Exited, exit.StartedAtNs, exit.FinishedAtNs, exit.Code, reason, message);
        }
        if (!File.Exists(Monitor(record.Id).SocketPath))
            return new ContainerInfo(record, ContainerState.Unknown, ExitRecord.ReadStarted(dir), 0, 0, "Unknown",
                "the container's monitor is gone without an exit record");
        long started = ExitRecord.ReadStarted(dir);
        return started > 0
            ? new ContainerInfo(record, ContainerState.Running, started, 0, 0, "", "")
            : new ContainerInfo(record, ContainerState.Created, 0, 0, 0, "", "");
    }
}
