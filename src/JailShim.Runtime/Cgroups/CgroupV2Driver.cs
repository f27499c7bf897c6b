using JailShim.Runtime.Interop;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Cgroups;

/// <summary>
/// cgroup v2 (unified): one tree at mountpoint + the daemon's own path + "/" + root name.
/// Controllers reach a cgroup only when every ancestor enables them in cgroup.subtree_control;
/// the driver enables them from its root down, and never writes the daemon's own cgroup, so what
/// its root gets is what the daemon's parent delegated.
/// </summary>
public sealed class CgroupV2Driver : ICgroupDriver
{
    /// <summary>The controllers the driver enables and uses; others (hugetlb, io, ...) are left alone.</summary>
    public static IReadOnlyList<string> Controllers { get; } = ["cpu", "cpuset", "memory", "pids"];

    private readonly CgroupFs fs;

    public CgroupV2Driver(CgroupMount unified, string ownPath, string rootName = CgroupPaths.DefaultRootName)
        : this(unified, ownPath, rootName, CgroupFs.Kernel) { }

    internal CgroupV2Driver(CgroupMount unified, string ownPath, string rootName, CgroupFs fs)
    {
        if (!unified.IsV2) throw new ArgumentException($"{unified.MountPoint} is not a cgroup2 mount", nameof(unified));
        this.fs = fs;
        RootName = CgroupPaths.CheckRootName(rootName);
        RootDirectory = Path.Join(CgroupHost.OwnDirectory(unified, ownPath), RootName);
    }

    /// <summary>The driver for this host, from /proc/self/mountinfo and /proc/self/cgroup.</summary>
    public static CgroupV2Driver ForHost(string rootName = CgroupPaths.DefaultRootName)
    {
        CgroupHost host = CgroupHost.Read();
        CgroupMount unified = FindUnifiedMount(host.Mounts) ?? throw new NotSupportedException("no cgroup2 filesystem is mounted");
        string own = host.OwnPaths.GetValueOrDefault(CgroupOwnPaths.Unified)
            ?? throw new NotSupportedException("/proc/self/cgroup has no cgroup v2 (\"0::\") line");
        return new CgroupV2Driver(unified, own, rootName);
    }

    /// <summary>The cgroup2 mount, preferring the standard /sys/fs/cgroup.</summary>
    public static CgroupMount? FindUnifiedMount(IReadOnlyList<CgroupMount> mounts) =>
        mounts.Where(m => m.IsV2).OrderByDescending(m => m.MountPoint == "/sys/fs/cgroup").FirstOrDefault();

    public string Kind => "v2";

    public string RootName { get; }

    /// <summary>The driver root: own cgroup + "/" + root name.</summary>
    public string RootDirectory { get; }

    /// <summary>How long Remove retries EBUSY while the kernel finishes freeing a just-emptied cgroup.</summary>
    public TimeSpan RemoveBusyTimeout { get; init; } = TimeSpan.FromSeconds(2);

    public string DirectoryOf(string relativePath) => CgroupPaths.Under(RootDirectory, relativePath);

    /// <summary>
    /// Creates the cgroup and enables the controllers in the root and every parent on the way
    /// (not in the cgroup itself, which is the leaf that holds processes).
    /// </summary>
    public Cgroup Create(string relativePath, CgroupLimits limits)
    {
        string relative = string.Join('/', CgroupPaths.Segments(relativePath));
        var created = new List<string>();
        try
        {
            List<string> chain = CgroupPaths.Chain(RootDirectory, relative).ToList();
            for (int i = 0; i < chain.Count; i++)
            {
                if (fs.MakeDirectory(chain[i])) created.Add(chain[i]);
                if (i < chain.Count - 1) EnableControllers(chain[i]);
            }
            Apply(chain[^1], limits);
        }
        catch
        {
            fs.RemoveCreated(created);
            throw;
        }
        return new Cgroup(relative, ProcsFiles(relative));
    }

    public IReadOnlyList<string> ProcsFiles(string relativePath) => [Path.Join(DirectoryOf(relativePath), "cgroup.procs")];

    public IReadOnlyList<int> Pids(string relativePath) =>
        (fs.TryRead(ProcsFiles(relativePath)[0]) ?? "")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).Order().ToList();

    /// <summary>From memory.events, which counts the cgroup and its descendants.</summary>
    public bool WasOomKilled(string relativePath) =>
        CgroupConvert.KeyedValue(fs.TryRead(Path.Join(DirectoryOf(relativePath), "memory.events")), "oom_kill") > 0;

    public CgroupLimits ReadLimits(string relativePath)
    {
        string dir = DirectoryOf(relativePath);
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"cgroup '{relativePath}' does not exist under {RootDirectory}");
        string? Text(string file) => fs.TryRead(Path.Join(dir, file))?.Trim();

        string[]? cpuMax = Text("cpu.max")?.Split(' ');
        return new CgroupLimits
        {
            CpuShares = Text("cpu.weight") is string w ? CgroupConvert.WeightToShares(long.Parse(w)) : null,
            CpuQuotaUs = cpuMax is null ? null : CgroupConvert.MaxOrNumber(cpuMax[0]),
            CpuPeriodUs = cpuMax?.Length > 1 ? long.Parse(cpuMax[1]) : null,
            MemoryLimitBytes = Text("memory.max") is string m ? CgroupConvert.MaxOrNumber(m) : null,
            PidsLimit = Text("pids.max") is string p ? CgroupConvert.MaxOrNumber(p) : null,
            // Empty on v2 means "inherits the parent's"; the effective set is in cpuset.cpus.effective.
            CpusetCpus = Text("cpuset.cpus"),
            CpusetMems = Text("cpuset.mems"),
        };
    }

    /// <summary>Removes the cgroup. Leaf only: remove children first. Missing is fine.</summary>
    public void Remove(string relativePath) => fs.RemoveLeaf(DirectoryOf(relativePath), RemoveBusyTimeout);

    public bool Exists(string relativePath) => Directory.Exists(DirectoryOf(relativePath));

    // Writes only what is missing, so a retried create writes nothing.
    private void EnableControllers(string dir)
    {
        HashSet<string> available = Words(Path.Join(dir, "cgroup.controllers"));
        HashSet<string> enabled = Words(Path.Join(dir, "cgroup.subtree_control"));
        string[] wanted = Controllers.Where(c => available.Contains(c) && !enabled.Contains(c)).ToArray();
        if (wanted.Length == 0) return;
        string file = Path.Join(dir, "cgroup.subtree_control");
        try { fs.Write(file, string.Join(' ', wanted.Select(c => "+" + c))); }
        catch (ErrnoException e) when (e.Errno == EBUSY)
        {
            // The "no internal processes" rule: a cgroup with processes cannot hand controllers down.
            throw new ErrnoException("write", EBUSY,
                $"{file}: the cgroup holds processes, and on cgroup v2 a cgroup with children must not; put them in a leaf (e.g. <pod>/infra)");
        }
    }

    private void Apply(string dir, CgroupLimits limits)
    {
        HashSet<string> available = Words(Path.Join(dir, "cgroup.controllers"));
        void Require(string controller, bool wanted)
        {
            if (wanted && !available.Contains(controller))
                throw new NotSupportedException(
                    $"the {controller} cgroup controller is not available in {dir}; the daemon's own cgroup " +
                    $"({Path.GetDirectoryName(RootDirectory)}) must have it enabled in its cgroup.subtree_control");
        }
        Require("cpu", limits.CpuShares > 0 || limits.CpuQuotaUs is not null || limits.CpuPeriodUs > 0);
        Require("cpuset", !string.IsNullOrEmpty(limits.CpusetCpus) || !string.IsNullOrEmpty(limits.CpusetMems));
        Require("memory", limits.MemoryLimitBytes is not null);
        Require("pids", limits.PidsLimit is not null);

        if (limits.CpuShares > 0)
            fs.Write(Path.Join(dir, "cpu.weight"), CgroupConvert.Num(CgroupConvert.SharesToWeight(limits.CpuShares.Value)));
        if (limits.CpuQuotaUs is not null || limits.CpuPeriodUs > 0)
        {
            // cpu.max is "QUOTA PERIOD"; a period alone keeps the quota already there.
            string quota = limits.CpuQuotaUs is long q
                ? CgroupConvert.Limit(q, "max")
                : (fs.TryRead(Path.Join(dir, "cpu.max"))?.Trim().Split(' ')[0] is { Length: > 0 } current ? current : "max");
            string value = limits.CpuPeriodUs > 0 ? $"{quota} {CgroupConvert.Num(limits.CpuPeriodUs.Value)}" : quota;
            fs.Write(Path.Join(dir, "cpu.max"), value);
        }
        if (limits.MemoryLimitBytes is long mem) fs.Write(Path.Join(dir, "memory.max"), CgroupConvert.Limit(mem, "max"));
        if (limits.PidsLimit is long pids) fs.Write(Path.Join(dir, "pids.max"), CgroupConvert.Limit(pids, "max"));
        if (!string.IsNullOrEmpty(limits.CpusetCpus)) fs.Write(Path.Join(dir, "cpuset.cpus"), limits.CpusetCpus);
        if (!string.IsNullOrEmpty(limits.CpusetMems)) fs.Write(Path.Join(dir, "cpuset.mems"), limits.CpusetMems);
    }

    private HashSet<string> Words(string file) =>
        (fs.TryRead(file) ?? "").Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
}
