using JailShim.Runtime.Cgroups;
using JailShim.Runtime.Interop;
using JailShim.Runtime.Pods;
using JailShim.Runtime.Shim;
using JailShim.Runtime.Specs;
using JailShim.Runtime.State;
using Microsoft.Extensions.Logging;

namespace JailShim.Runtime;

public sealed partial class Engine
{
    private static readonly string[] PinnedTypes = ["net", "ipc", "uts", "pid"];

    private static string SandboxKey(SandboxSpec spec) => $"{spec.Name}\0{spec.Uid}\0{spec.Namespace}\0{spec.Attempt}";

    /// <summary>Makes a pod sandbox: cgroup, /etc files, the infra process holding the pod's namespaces, pinned.</summary>
    public async Task<string> RunSandboxAsync(SandboxSpec spec, CancellationToken cancellationToken)
    {
        if (spec.Name.Length == 0) throw EngineException.Invalid("metadata.name", "must not be empty");
        if (spec.Uid.Length == 0) throw EngineException.Invalid("metadata.uid", "must not be empty");
        if (spec.Namespace.Length == 0) throw EngineException.Invalid("metadata.namespace", "must not be empty");
        if (spec.LogDirectory.Length > 0) PathGuard.Absolute("log_directory", spec.LogDirectory);
        if (spec.Hostname.Length > 64) throw EngineException.Invalid("hostname", "longer than 64 characters");
        string cgroupParent = PathGuard.CgroupParent(spec.CgroupParent);

        string id = NewId();
        string key = SandboxKey(spec);
        if (_names.Reserve(key, id) is { } holder)
            throw new EngineException(EngineErrorKind.AlreadyExists,
                $"pod sandbox {spec.Namespace}/{spec.Name} (uid {spec.Uid}, attempt {spec.Attempt}) already exists as {holder}");

        var record = new SandboxRecord
        {
            Id = id,
            Spec = spec,
            CreatedAtNs = NowNs(),
            Phase = SandboxPhase.Creating,
            CgroupPath = cgroupParent.Length > 0 ? $"{cgroupParent}/{id}" : id,
        };
        string dir = _state.SandboxDir(id);
        try
        {
            Directory.CreateDirectory(dir);
            await _state.SaveAsync(record, cancellationToken);
            // The pod cgroup holds the containers. The infra process stays out of it, with the monitors, as
            // runtime overhead (CRI-O without an infra container does the same): joining a v1 cgroup costs an
            // RCU grace period (~10 ms here), and on v2 a pod cgroup with a process in it could not have children.
            Phase("cgroup.create", id, null, () => _cgroups.Create(record.CgroupPath, CgroupLimits.None), record.CgroupPath);

            bool hostNetwork = spec.Network == NamespaceMode.Node;
            await SandboxFiles.WriteAsync(dir, hostNetwork ? System.Environment.MachineName : spec.Hostname, spec.Dns, hostNetwork,
                cancellationToken);

            var newNamespaces = new List<string>();
            if (!hostNetwork) newNamespaces.AddRange(["net", "uts"]);
            if (spec.Ipc != NamespaceMode.Node) newNamespaces.Add("ipc");
            if (spec.Pid != NamespaceMode.Node) newNamespaces.Add("pid");

            var shimSpec = new ShimSpec().Add("state-dir", dir);
            shimSpec.Add("clone", ShimSpec.Optional(string.Join(',', newNamespaces)));
            if (!hostNetwork)
            {
                if (spec.Hostname.Length > 0) shimSpec.Add("hostname", spec.Hostname);
                shimSpec.Add("lo-up");
            }

            ShimResult infra = await _shim.RunAsync("sandbox", shimSpec, id, null, CancellationToken.None);
            record.InfraPid = infra.Pid;
            record.InfraStartTime = ProcessIdentity.StartTime(infra.Pid)
                ?? throw new EngineException(EngineErrorKind.Internal, $"infra process {infra.Pid} exited at once");

            Directory.CreateDirectory(Path.Combine(dir, "ns"));
            foreach (string type in newNamespaces)
            {
                string pin = Path.Combine(dir, "ns", type);
                File.WriteAllBytes(pin, []);
                Phase("mount", id, null, () => Sys.BindMount($"/proc/{infra.Pid}/ns/{type}", pin), pin);
                record.Namespaces[type] = pin;
            }
            // The pins must name our infra's namespaces: if its pid was recycled meanwhile, refuse.
            if (!ProcessIdentity.IsAlive(infra.Pid, record.InfraStartTime))
                throw new EngineException(EngineErrorKind.Internal, "infra process exited during setup");

            record.Phase = SandboxPhase.Ready;
            await _state.SaveAsync(record, CancellationToken.None);
            _sandboxes[id] = record;
            return id;
        }
        catch (Exception e)
        {
            _logger.LogWarning("RunPodSandbox {Name} failed, rolling back: {Error}", spec.Name, e.Message);
            try { await TearDownSandboxAsync(record); }
            catch (Exception cleanup) // the first failure is the one to report; this one is logged
            {
                _logger.LogError("rollback of pod sandbox {Id} left something behind: {Error}", id, cleanup.Message);
            }
            _names.Release(key, id);
            if (e is OperationCanceledException) throw;
            throw Wrap("run pod sandbox", e);
        }
    }

    /// <summary>Stops every container of the pod, then its infra process; unpins the namespaces.</summary>
    public async Task StopSandboxAsync(string id, CancellationToken cancellationToken)
    {
        SandboxRecord? record = FindSandbox(id);
        if (record is null) return; // CRI: stopping what is gone succeeds
        foreach (ContainerRecord container in _containers.Values.Where(c => c.PodId == record.Id).ToList())
            await StopContainerAsync(container.Id, 0, cancellationToken);

        using IDisposable held = await _locks.AcquireAsync(record.Id, cancellationToken);
        if (record.Phase == SandboxPhase.Stopped) return;
        await StopInfraAsync(record);
        UnpinNamespaces(record);
        record.Phase = SandboxPhase.Stopped;
        await _state.SaveAsync(record, CancellationToken.None);
    }

    /// <summary>Removes the pod: its containers, infra, cgroup and state directory.</summary>
    public async Task RemoveSandboxAsync(string id, CancellationToken cancellationToken)
    {
        SandboxRecord? record = FindSandbox(id);
        if (record is null) return;
        foreach (ContainerRecord container in _containers.Values.Where(c => c.PodId == record.Id).ToList())
            await RemoveContainerAsync(container.Id, cancellationToken);

        using (await _locks.AcquireAsync(record.Id, cancellationToken))
        {
            if (!_sandboxes.ContainsKey(record.Id)) return;
            await TearDownSandboxAsync(record);
            _sandboxes.TryRemove(record.Id, out _);
            _names.Release(SandboxKey(record.Spec), record.Id);
        }
        _locks.Forget(record.Id);
    }

    public SandboxInfo GetSandbox(string id)
    {
        SandboxRecord record = FindSandbox(id) ?? throw EngineException.NotFound("pod sandbox", id);
        return Describe(record);
    }

    public IReadOnlyList<SandboxInfo> ListSandboxes() => _sandboxes.Values.Select(Describe).ToList();

    private static SandboxInfo Describe(SandboxRecord record) =>
        new(record, record.Phase == SandboxPhase.Ready && ProcessIdentity.IsAlive(record.InfraPid, record.InfraStartTime));

    /// <summary>Everything a sandbox holds, undone; safe to call on a half-made one.</summary>
    private async Task TearDownSandboxAsync(SandboxRecord record)
    {
        try
        {
            await StopInfraAsync(record);
            UnpinNamespaces(record);
            if (record.CgroupPath.Length > 0) await RemoveCgroupAsync(record.CgroupPath, record.Id, null);
            DeleteDir(_state.SandboxDir(record.Id));
        }
        catch (Exception e)
        {
            _logger.LogError("tearing down pod sandbox {Id} left something behind: {Error}", record.Id, e.Message);
            throw;
        }
    }

    private async Task StopInfraAsync(SandboxRecord record)
    {
        if (record.InfraPid <= 0 || !ProcessIdentity.IsAlive(record.InfraPid, record.InfraStartTime)) return;
        PidfdHandle pidfd;
        try { pidfd = Sys.OpenPidfd(record.InfraPid); }
        catch (ErrnoException) { return; } // gone between the check and the open
        using (pidfd)
        {
            // Checked again through the pidfd: from here on the pid cannot be recycled under us.
            if (!ProcessIdentity.IsAlive(record.InfraPid, record.InfraStartTime)) return;
            Phase("kill", record.Id, null, () => Sys.SignalPidfd(pidfd, 9), $"pid {record.InfraPid}");
            await Task.Run(() => Phase("wait", record.Id, null, () => Sys.WaitPidfd(pidfd, 10_000), $"pid {record.InfraPid}"));
        }
    }

    private static void UnpinNamespaces(SandboxRecord record)
    {
        foreach (var (type, pin) in record.Namespaces)
            Phase("umount", record.Id, null, () => Sys.Unmount(pin), pin);
    }
}
