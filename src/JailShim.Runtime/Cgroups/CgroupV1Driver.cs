using JailShim.Runtime.Interop;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Cgroups;

/// <summary>
/// cgroup v1 (pure v1 or hybrid): one directory per hierarchy, each at
/// mountpoint + the daemon's own path there + "/" + root name. Hierarchies whose controller is
/// not mounted are skipped; asking for a limit that needs one of them fails.
/// </summary>
public sealed class CgroupV1Driver : ICgroupDriver
{
    /// <summary>The controllers the driver makes cgroups in (cpuacct only for its statistics).</summary>
    public static IReadOnlyList<string> Controllers { get; } = ["cpu", "cpuacct", "cpuset", "memory", "pids"];

    private readonly CgroupFs fs;

    // Controller -> the driver root in its hierarchy. Co-mounted controllers (cpu,cpuacct) share one.
    private readonly Dictionary<string, string> rootByController = new(StringComparer.Ordinal);

    // The distinct hierarchy roots, in Controllers order.
    private readonly List<string> roots = [];

    public CgroupV1Driver(IReadOnlyList<CgroupMount> mounts, IReadOnlyDictionary<string, string> ownPaths, string rootName = CgroupPaths.DefaultRootName)
        : this(mounts, ownPaths, rootName, CgroupFs.Kernel) { }

    internal CgroupV1Driver(IReadOnlyList<CgroupMount> mounts, IReadOnlyDictionary<string, string> ownPaths, string rootName, CgroupFs fs)
    {
        this.fs = fs;
        RootName = CgroupPaths.CheckRootName(rootName);
        foreach (string controller in Controllers)
        {
            if (!ownPaths.TryGetValue(controller, out string? own)) continue;
            CgroupMount? mount = FindMount(mounts, controller, own);
            if (mount is null) continue;
            string root = Path.Join(CgroupHost.OwnDirectory(mount, own), RootName);
            rootByController[controller] = root;
            if (!roots.Contains(root)) roots.Add(root);
        }
        if (roots.Count == 0) throw new NotSupportedException("no cgroup v1 hierarchy with cpu, cpuacct, cpuset, memory or pids is mounted");
    }

    /// <summary>The driver for this host, from /proc/self/mountinfo and /proc/self/cgroup.</summary>
    public static CgroupV1Driver ForHost(string rootName = CgroupPaths.DefaultRootName)
    {
        CgroupHost host = CgroupHost.Read();
        return new CgroupV1Driver(host.Mounts, host.OwnPaths, rootName);
    }

    public string Kind => "v1";

    public string RootName { get; }

    /// <summary>How long Remove retries EBUSY while the kernel finishes freeing a just-emptied cgroup.</summary>
    public TimeSpan RemoveBusyTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The driver root per mounted controller.</summary>
    public IReadOnlyDictionary<string, string> RootDirectories => rootByController;

    /// <summary>The cgroup's directory in one controller's hierarchy, or null when it is not mounted.</summary>
    public string? DirectoryOf(string controller, string relativePath) =>
        rootByController.TryGetValue(controller, out string? root) ? CgroupPaths.Under(root, relativePath) : null;

    public Cgroup Create(string relativePath, CgroupLimits limits)
    {
        string relative = string.Join('/', CgroupPaths.Segments(relativePath));
        RequireControllers(limits);
        var created = new List<string>();
        try
        {
            foreach (string root in roots)
            {
                bool cpuset = rootByController.GetValueOrDefault("cpuset") == root;
                foreach (string dir in CgroupPaths.Chain(root, relative))
                {
                    if (fs.MakeDirectory(dir)) created.Add(dir);
                    if (cpuset) InheritCpuset(dir);
                }
            }
            Apply(relative, limits);
        }
        catch
        {
            fs.RemoveCreated(created);
            throw;
        }
        return new Cgroup(relative, ProcsFiles(relative));
    }

    public IReadOnlyList<string> ProcsFiles(string relativePath) =>
        roots.Select(r => Path.Join(CgroupPaths.Under(r, relativePath), "cgroup.procs")).ToList();

    public IReadOnlyList<int> Pids(string relativePath)
    {
        // Union over hierarchies: a process joining is briefly in some and not yet in others.
        var pids = new SortedSet<int>();
        foreach (string file in ProcsFiles(relativePath))
            foreach (string line in (fs.TryRead(file) ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
                pids.Add(int.Parse(line));
        return pids.ToList();
    }

    public bool WasOomKilled(string relativePath)
    {
        // "oom_kill N" (kernel >= 4.13) counts kills; memory.failcnt only counts reclaim at the limit.
        string? dir = DirectoryOf("memory", relativePath);
        if (dir is null) return false;
        return CgroupConvert.KeyedValue(fs.TryRead(Path.Join(dir, "memory.oom_control")), "oom_kill") > 0;
    }

    public CgroupLimits ReadLimits(string relativePath)
    {
        if (!Exists(relativePath)) throw new DirectoryNotFoundException($"cgroup '{relativePath}' does not exist under {RootName}");
        long? Number(string controller, string file, Func<string, long> parse) =>
            Text(controller, file) is string s ? parse(s) : null;
        return new CgroupLimits
        {
            CpuShares = Number("cpu", "cpu.shares", long.Parse),
            CpuQuotaUs = Number("cpu", "cpu.cfs_quota_us", long.Parse),
            CpuPeriodUs = Number("cpu", "cpu.cfs_period_us", long.Parse),
            MemoryLimitBytes = Number("memory", "memory.limit_in_bytes", CgroupConvert.V1MemoryLimit),
            PidsLimit = Number("pids", "pids.max", CgroupConvert.MaxOrNumber),
            CpusetCpus = Text("cpuset", "cpuset.cpus"),
            CpusetMems = Text("cpuset", "cpuset.mems"),
        };

        string? Text(string controller, string file) =>
            DirectoryOf(controller, relativePath) is string dir ? fs.TryRead(Path.Join(dir, file))?.Trim() : null;
    }

    /// <summary>
    /// Removes the cgroup from every hierarchy. Leaf only: remove children first. Every hierarchy
    /// is tried before the first failure is thrown, so a retry finishes a partial remove.
    /// </summary>
    public void Remove(string relativePath)
    {
        Exception? first = null;
        foreach (string root in roots)
        {
            try { fs.RemoveLeaf(CgroupPaths.Under(root, relativePath), RemoveBusyTimeout); }
            catch (Exception e) when (e is ErrnoException or IOException) { first ??= e; }
        }
        if (first is not null) throw first;
    }

    /// <summary>True when the cgroup exists in any hierarchy (a half-made one counts, so it gets removed).</summary>
    public bool Exists(string relativePath) =>
        roots.Any(r => Directory.Exists(CgroupPaths.Under(r, relativePath)));

    private void Apply(string relative, CgroupLimits limits)
    {
        if (DirectoryOf("cpu", relative) is string cpu)
        {
            if (limits.CpuShares > 0)
                fs.Write(Path.Join(cpu, "cpu.shares"), CgroupConvert.Num(Math.Clamp(limits.CpuShares.Value, CgroupConvert.MinShares, CgroupConvert.MaxShares)));
            WriteQuotaAndPeriod(cpu, limits.CpuQuotaUs, limits.CpuPeriodUs);
        }
        if (DirectoryOf("cpuset", relative) is string cpuset)
        {
            if (!string.IsNullOrEmpty(limits.CpusetCpus)) fs.Write(Path.Join(cpuset, "cpuset.cpus"), limits.CpusetCpus);
            if (!string.IsNullOrEmpty(limits.CpusetMems)) fs.Write(Path.Join(cpuset, "cpuset.mems"), limits.CpusetMems);
        }
        if (DirectoryOf("memory", relative) is string memory && limits.MemoryLimitBytes is long mem)
            fs.Write(Path.Join(memory, "memory.limit_in_bytes"), CgroupConvert.Limit(mem, "-1"));
        if (DirectoryOf("pids", relative) is string pids && limits.PidsLimit is long max)
            fs.Write(Path.Join(pids, "pids.max"), CgroupConvert.Limit(max, "max"));
    }

    // Period goes first. A shorter period can be refused (EINVAL) while the old quota would then
    // exceed the parent's; as runc does, write the quota and try the period again.
    private void WriteQuotaAndPeriod(string dir, long? quota, long? period)
    {
        string periodFile = Path.Join(dir, "cpu.cfs_period_us");
        bool retryPeriod = false;
        if (period > 0)
        {
            try { fs.Write(periodFile, CgroupConvert.Num(period.Value)); }
            catch (ErrnoException e) when (e.Errno == EINVAL && quota is not null) { retryPeriod = true; }
        }
        if (quota is long q) fs.Write(Path.Join(dir, "cpu.cfs_quota_us"), CgroupConvert.Limit(q, "-1"));
        if (retryPeriod) fs.Write(periodFile, CgroupConvert.Num(period!.Value));
    }

    // A new v1 cpuset starts with empty cpus/mems and refuses processes until both are set.
    private void InheritCpuset(string dir)
    {
        string parent = Path.GetDirectoryName(dir)!;
        foreach (string file in new[] { "cpuset.cpus", "cpuset.mems" })
        {
            string path = Path.Join(dir, file);
            if (fs.Read(path).Length > 0) continue;
            string value = fs.Read(Path.Join(parent, file));
            if (value.Length == 0) throw new InvalidOperationException($"cannot inherit {file}: {parent} has none");
            fs.Write(path, value);
        }
    }

    private void RequireControllers(CgroupLimits limits)
    {
        Require("cpu", limits.CpuShares > 0 || limits.CpuQuotaUs is not null || limits.CpuPeriodUs > 0);
        Require("cpuset", !string.IsNullOrEmpty(limits.CpusetCpus) || !string.IsNullOrEmpty(limits.CpusetMems));
        Require("memory", limits.MemoryLimitBytes is not null);
        Require("pids", limits.PidsLimit is not null);

        void Require(string controller, bool wanted)
        {
            if (wanted && !rootByController.ContainsKey(controller))
                throw new NotSupportedException($"the {controller} cgroup controller is not mounted on this host, so its limit cannot be applied");
        }
    }

    // A mount of the controller whose root contains our own path; bind mounts of a subtree can repeat it.
    private static CgroupMount? FindMount(IReadOnlyList<CgroupMount> mounts, string controller, string own) =>
        mounts.Where(m => m.HasV1Controller(controller))
              .OrderByDescending(m => m.Root == "/" || own == m.Root || own.StartsWith(m.Root.TrimEnd('/') + "/", StringComparison.Ordinal))
              .FirstOrDefault();
}
