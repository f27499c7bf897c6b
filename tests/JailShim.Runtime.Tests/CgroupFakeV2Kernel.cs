using JailShim.Runtime.Cgroups;
using JailShim.Runtime.Interop;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Tests;

/// <summary>
/// Stands in for the kernel over a plain temp dir laid out as a cgroup2 mount: mkdir makes the
/// interface files (those of the controllers the parent enables), subtree_control only takes
/// controllers the cgroup has (and none from a cgroup holding processes), rmdir refuses a cgroup with children or processes, and writes to
/// a file the kernel would not have fail with ENOENT. Every write and mkdir is logged.
/// </summary>
internal sealed class CgroupFakeV2Kernel : CgroupFs, IDisposable
{
    // The interface files each controller brings, with the kernel's defaults.
    private static readonly Dictionary<string, (string File, string Text)[]> FilesByController = new()
    {
        ["cpu"] = [("cpu.weight", "100\n"), ("cpu.max", "max 100000\n")],
        ["cpuset"] = [("cpuset.cpus", "\n"), ("cpuset.mems", "\n")],
        ["memory"] = [("memory.max", "max\n"), ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")],
        ["pids"] = [("pids.max", "max\n")],
        ["hugetlb"] = [("hugetlb.2MB.max", "max\n")],
    };

    public string Mount { get; } = Directory.CreateTempSubdirectory("jailshim-cgv2-").FullName;

    public List<string> Writes { get; } = [];

    public List<string> Mkdirs { get; } = [];

    /// <summary>How many rmdir calls answer EBUSY before the fake lets one through.</summary>
    public int BusyRemovals { get; set; }

    public CgroupMount MountRecord => new(Mount, "/", "cgroup2", ["nsdelegate"]);

    /// <summary>Makes a cgroup as if it existed before the test (the host's part of the tree).</summary>
    public string Seed(string relative, string controllers, string subtreeControl, string procs = "")
    {
        string dir = relative.Length == 0 ? Mount : Path.Join(Mount, relative);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Join(dir, "cgroup.controllers"), controllers + "\n");
        File.WriteAllText(Path.Join(dir, "cgroup.subtree_control"), subtreeControl + "\n");
        File.WriteAllText(Path.Join(dir, "cgroup.procs"), procs);
        return dir;
    }

    public override bool MakeDirectory(string path)
    {
        Mkdirs.Add(path);
        if (!base.MakeDirectory(path)) return false;
        string parent = Path.GetDirectoryName(path)!;
        string enabled = File.ReadAllText(Path.Join(parent, "cgroup.subtree_control")).Trim();
        File.WriteAllText(Path.Join(path, "cgroup.controllers"), enabled + "\n");
        File.WriteAllText(Path.Join(path, "cgroup.subtree_control"), "\n");
        File.WriteAllText(Path.Join(path, "cgroup.procs"), "");
        foreach (string c in enabled.Split(' ', StringSplitOptions.RemoveEmptyEntries)) AddControllerFiles(path, c);
        return true;
    }

    public override int RemoveDirectory(string path)
    {
        if (!Directory.Exists(path)) return ENOENT;
        if (BusyRemovals > 0) { BusyRemovals--; return EBUSY; }
        if (Directory.GetDirectories(path).Length > 0) return EBUSY;
        if (File.ReadAllText(Path.Join(path, "cgroup.procs")).Trim().Length > 0) return EBUSY;
        Directory.Delete(path, recursive: true);
        return 0;
    }

    public override void Write(string path, string value)
    {
        Writes.Add(path);
        if (!File.Exists(path)) throw new ErrnoException("open", ENOENT, path);
        if (Path.GetFileName(path) != "cgroup.subtree_control")
        {
            File.WriteAllText(path, value + "\n");
            return;
        }
        string dir = Path.GetDirectoryName(path)!;
        var available = Words(Path.Join(dir, "cgroup.controllers"));
        var enabled = Words(path);
        if (value.Contains('+') && File.ReadAllText(Path.Join(dir, "cgroup.procs")).Trim().Length > 0)
            throw new ErrnoException("write", EBUSY, $"{path} <- '{value}'");
        foreach (string token in value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            string c = token[1..];
            if (!available.Contains(c)) throw new ErrnoException("write", ENOENT, $"{path} <- '{value}'");
            if (token[0] == '+' && enabled.Add(c))
                foreach (string child in Directory.GetDirectories(dir)) AddControllerFiles(child, c);
            if (token[0] == '-') enabled.Remove(c);
        }
        File.WriteAllText(path, string.Join(' ', enabled.Order()) + "\n");
    }

    /// <summary>Every file below the mount with its text, to show what a test changed.</summary>
    public Dictionary<string, string> Snapshot() =>
        Directory.GetFiles(Mount, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllText);

    public void Dispose() => Directory.Delete(Mount, recursive: true);

    private static void AddControllerFiles(string dir, string controller)
    {
        foreach (var (file, text) in FilesByController.GetValueOrDefault(controller, []))
        {
            string path = Path.Join(dir, file);
            if (!File.Exists(path)) File.WriteAllText(path, text);
        }
    }

    private static HashSet<string> Words(string file) =>
        File.ReadAllText(file).Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).ToHashSet();
}
