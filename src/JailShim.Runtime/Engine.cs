using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using JailShim.Runtime.Cgroups;
using JailShim.Runtime.Images;
using JailShim.Runtime.Pods;
using JailShim.Runtime.Shim;
using JailShim.Runtime.State;
using JailShim.Runtime.Telemetry;
using Microsoft.Extensions.Logging;

namespace JailShim.Runtime;

/// <summary>
/// The isolation engine: pod sandboxes and their containers, each jailed by
/// the shim with namespaces, cgroups and pivot_root. Split by concern across
/// Engine.*.cs files.
/// </summary>
public sealed partial class Engine
{
    private readonly EngineOptions _options;
    private readonly ICgroupDriver _cgroups;
    private readonly ImageStore _images;
    private readonly ILogger _logger;
    private readonly StateStore _state;
    private readonly ShimLauncher _shim;
    private readonly ConcurrentDictionary<string, SandboxRecord> _sandboxes = new();
    private readonly ConcurrentDictionary<string, ContainerRecord> _containers = new();
    private readonly ConcurrentDictionary<string, bool> _oomKilled = new();
    private readonly NameRegistry _names = new();
    private readonly IdLocks _locks = new();
    private readonly ulong _capabilityBound = Capabilities.OwnBoundingSet();

    public Engine(EngineOptions options, ICgroupDriver cgroups, ImageStore images, ILogger<Engine> logger)
    {
        _options = options;
        _cgroups = cgroups;
        _images = images;
        _logger = logger;
        _state = new StateStore(options.Root);
        _shim = new ShimLauncher(options.ShimPath, logger);
        Directory.CreateDirectory(MonitorSocketDir);
        if (!File.Exists(options.ShimPath))
            throw new FileNotFoundException($"jailshim-shim not found at {options.ShimPath}", options.ShimPath);
    }

    public ICgroupDriver Cgroups => _cgroups;
    public ImageStore Images => _images;

    private string MonitorSocketDir => Path.Combine(_options.RunRoot, "monitors");

    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    private static long NowNs() => (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;

    /// <summary>Finds a sandbox by full id or unique prefix (as crictl users type them).</summary>
    private SandboxRecord? FindSandbox(string id)
    {
        if (_sandboxes.TryGetValue(id, out SandboxRecord? exact)) return exact;
        if (id.Length < 4) return null;
        var matches = _sandboxes.Values.Where(s => s.Id.StartsWith(id, StringComparison.Ordinal)).Take(2).ToList();
        return matches.Count == 1 ? matches[0] : null;
    }

    private ContainerRecord? FindContainer(string id)
    {
        if (_containers.TryGetValue(id, out ContainerRecord? exact)) return exact;
        if (id.Length < 4) return null;
        var matches = _containers.Values.Where(c => c.Id.StartsWith(id, StringComparison.Ordinal)).Take(2).ToList();
        return matches.Count == 1 ? matches[0] : null;
    }

    /// <summary>Runs a C# syscall phase as a span, recording errno on failure.</summary>
    private static T Phase<T>(string name, string? podId, string? containerId, Func<T> action, string? detail = null)
    {
        using Activity? span = EngineTelemetry.Phase(name, podId, containerId);
        if (detail is not null) span?.SetTag("jailshim.target", detail);
        try
        {
            return action();
        }
        catch (Exception e)
        {
            EngineTelemetry.Fail(span, e);
            throw;
        }
    }

    private static void Phase(string name, string? podId, string? containerId, Action action, string? detail = null) =>
        Phase<bool>(name, podId, containerId, () => { action(); return true; }, detail);

    /// <summary>Removes a cgroup once its processes are gone, killing any that linger (they are ours: they are in our cgroup).</summary>
    private async Task RemoveCgroupAsync(string path, string? podId, string? containerId)
    {
        for (int attempt = 0; ; attempt++)
        {
            IReadOnlyList<int> pids = _cgroups.Pids(path);
            if (pids.Count == 0) break;
            if (attempt == 0)
                Phase("kill", podId, containerId, () => { foreach (int pid in pids) Interop.Sys.Kill(pid, 9); }, path);
            if (attempt > 200) throw new EngineException(EngineErrorKind.Internal, $"cgroup {path} still holds processes {string.Join(",", pids)}");
            if (attempt > 0 && attempt % 20 == 0)
                foreach (int pid in pids) Interop.Sys.Kill(pid, 9);
            await Task.Delay(10);
        }
        Phase("cgroup.remove", podId, containerId, () => _cgroups.Remove(path), path);
    }

    /// <summary>Deletes a state directory, unmounting anything we pinned in it first.</summary>
    private static void DeleteDir(string dir)
    {
        if (!Directory.Exists(dir)) return;
        string ns = Path.Combine(dir, "ns");
        if (Directory.Exists(ns))
            foreach (string pin in Directory.EnumerateFiles(ns))
                Interop.Sys.Unmount(pin);
        Directory.Delete(dir, recursive: true);
    }

    private static EngineException Wrap(string what, Exception e) => e switch
    {
        EngineException engine => engine,
        _ => new EngineException(EngineErrorKind.Internal, $"{what}: {e.Message}", e),
    };
}
