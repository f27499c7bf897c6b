namespace JailShim.Bench;

/// <summary>What /proc says about one process: its name, memory, pid namespace.</summary>
internal static class ProcFs
{
    public static string? Comm(int pid) => Read($"/proc/{pid}/comm")?.Trim();

    /// <summary>A "Key:   123 kB" field of /proc/PID/status, in KiB.</summary>
    public static long? StatusKiB(int pid, string key) => KiBField(Read($"/proc/{pid}/status"), key);

    /// <summary>Pss (KiB) from /proc/PID/smaps_rollup; null when the kernel has no such file.</summary>
    public static long? PssKiB(int pid) => KiBField(Read($"/proc/{pid}/smaps_rollup"), "Pss");

    public static int? PPid(int pid) => (int?)KiBField(Read($"/proc/{pid}/status"), "PPid");

    public static string? PidNamespace(int pid)
    {
        try { return new FileInfo($"/proc/{pid}/ns/pid").LinkTarget; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    public static bool Alive(int pid) => pid > 0 && Directory.Exists($"/proc/{pid}");

    private static long? KiBField(string? text, string key)
    {
        if (text is null) return null;
        foreach (string line in text.Split('\n'))
        {
            if (!line.StartsWith(key + ":", StringComparison.Ordinal)) continue;
            string[] parts = line[(key.Length + 1)..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length > 0 && long.TryParse(parts[0], out long value)) return value;
        }
        return null;
    }

    private static string? Read(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>Mount points at or below the directory, deepest first.</summary>
    public static List<string> MountsBelow(string dir) =>
        File.ReadAllLines("/proc/self/mountinfo")
            .Select(line => line.Split(' ')[4].Replace("\\040", " "))
            .Where(point => point == dir || point.StartsWith(dir + "/", StringComparison.Ordinal))
            .OrderByDescending(p => p.Length)
            .ToList();

    /// <summary>Cgroup directories with the given name in every v1/v2 hierarchy (the daemon's --cgroup-root).</summary>
    public static List<string> CgroupDirs(string name)
    {
        var found = new List<string>();
        foreach (string line in File.ReadAllLines("/proc/self/mountinfo"))
        {
            string[] f = line.Split(' ');
            int dash = Array.IndexOf(f, "-");
            if (dash < 0 || (f[dash + 1] != "cgroup" && f[dash + 1] != "cgroup2")) continue;
            try
            {
                found.AddRange(Directory.EnumerateDirectories(f[4], name, new EnumerationOptions
                {
                    RecurseSubdirectories = true,
                    MaxRecursionDepth = 4,
                    IgnoreInaccessible = true,
                }));
            }
            catch (IOException) { }
        }
        return found;
    }
}

/// <summary>A process the daemon made for us (container, monitor, pod infra), as /proc identified it when we saw it.</summary>
internal sealed record ProcIdentity(int Pid, string Comm, long StartTime, string Role)
{
    public static ProcIdentity? Of(int pid, string role)
    {
        string? comm = ProcFs.Comm(pid);
        long? start = StartTimeOf(pid);
        return comm is null || start is null ? null : new ProcIdentity(pid, comm, start.Value, role);
    }

    /// <summary>Field 3 of /proc/PID/stat: R, S, D, Z (zombie: exited, not yet reaped by its parent), ...</summary>
    public static string StateOf(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException)
        {
            return "?";
        }
    }

    public string Describe() =>
        $"{Role} pid {Pid} ({Comm}, state {StateOf(Pid)}, parent {ProcFs.PPid(Pid)?.ToString() ?? "?"} {(ProcFs.PPid(Pid) is int pp ? ProcFs.Comm(pp) : "")})";

    /// <summary>Field 22 of /proc/PID/stat (start time in clock ticks): with the pid, unique for the boot.</summary>
    public static long? StartTimeOf(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            string[] rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.TryParse(rest[19], out long t) ? t : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>Still the very process we saw (same pid, name and start time), exited or not?</summary>
    public bool StillThere => ProcFs.Comm(Pid) == Comm && StartTimeOf(Pid) == StartTime;

    /// <summary>Still there and not a zombie (a zombie has exited; only its parent can reap it, no signal does anything).</summary>
    public bool StillAlive => StillThere && StateOf(Pid) != "Z";

    public bool Zombie => StillThere && StateOf(Pid) == "Z";
}
