namespace JailShim.Conformance;

/// <summary>Finds what a test run left behind: mounts, processes, cgroups, state dirs.</summary>
public static class Leaks
{
    /// <summary>Mount points at or below the directory.</summary>
    public static List<string> Mounts(string dir) =>
        File.ReadAllLines("/proc/self/mountinfo")
            .Select(line => line.Split(' ')[4].Replace("\\040", " "))
            .Where(point => point == dir || point.StartsWith(dir + "/", StringComparison.Ordinal))
            .ToList();

    /// <summary>Processes with an open file, cwd or root below the directory ("pid: path").</summary>
    public static List<string> Processes(string dir)
    {
        var found = new List<string>();
        foreach (string proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), out int pid) || pid == Environment.ProcessId) continue;
            var links = new List<string> { Path.Combine(proc, "cwd"), Path.Combine(proc, "root") };
            try { links.AddRange(Directory.EnumerateFileSystemEntries(Path.Combine(proc, "fd"))); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            foreach (string link in links)
            {
                string? target;
                try { target = new FileInfo(link).LinkTarget; }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
                if (target is not null && (target == dir || target.StartsWith(dir + "/", StringComparison.Ordinal)))
                {
                    found.Add($"{pid}: {target}");
                    break;
                }
            }
        }
        return found;
    }

    /// <summary>Cgroup directories named by the daemon's cgroup root, in every v1/v2 hierarchy.</summary>
    public static List<string> CgroupDirs(string cgroupRoot)
    {
        var found = new List<string>();
        foreach (string line in File.ReadAllLines("/proc/self/mountinfo"))
        {
            string[] f = line.Split(' ');
            int dash = Array.IndexOf(f, "-");
            if (dash < 0 || (f[dash + 1] != "cgroup" && f[dash + 1] != "cgroup2")) continue;
            string mount = f[4];
            try
            {
                found.AddRange(Directory.EnumerateDirectories(mount, cgroupRoot, new EnumerationOptions
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

    /// <summary>Everything below a cgroup dir other than the dir itself (pods, containers).</summary>
    public static List<string> CgroupChildren(string cgroupRoot) =>
        CgroupDirs(cgroupRoot).SelectMany(d => Directory.EnumerateDirectories(d, "*", SearchOption.AllDirectories)).ToList();

    /// <summary>Test teardown: detach our own mounts, drop our own cgroups, delete the temp dir.</summary>
    public static void RemoveTestDir(string dir)
    {
        foreach (string point in Mounts(dir).OrderByDescending(p => p.Length))
            Syscall.Umount2(point, 2 /* MNT_DETACH */);
        string cgroupRoot = "jailshim-test-" + Path.GetFileName(dir);
        // A failed test can leave pods running: their processes are in this test's own cgroups, so they are ours to end.
        foreach (string cg in CgroupDirs(cgroupRoot))
            foreach (string procs in Directory.EnumerateFiles(cg, "cgroup.procs", SearchOption.AllDirectories))
                foreach (string pid in File.ReadAllLines(procs))
                    if (int.TryParse(pid, out int p)) Syscall.Kill(p, 9);
        Thread.Sleep(200);
        foreach (string cg in CgroupDirs(cgroupRoot).OrderByDescending(p => p.Length))
            foreach (string sub in Directory.EnumerateDirectories(cg, "*", SearchOption.AllDirectories).Append(cg).OrderByDescending(p => p.Length))
                try { Directory.Delete(sub); } catch (IOException) { }
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
