namespace JailShim.Runtime.Cgroups;

/// <summary>
/// Parses /proc/self/cgroup: the daemon's own cgroup path in each hierarchy, keyed by controller
/// ("cpu", "memory", "name=systemd", ...). The v2 line ("0::/path") is keyed by <see cref="Unified"/>.
/// </summary>
public static class CgroupOwnPaths
{
    public const string Unified = "";

    public static IReadOnlyDictionary<string, string> Parse(string procSelfCgroup)
    {
        var paths = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in procSelfCgroup.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "hierarchy-id:controller,list:/path"; the path itself may contain ':'.
            string[] f = line.Split(':', 3);
            if (f.Length != 3) continue;
            string path = f[2].Trim();
            if (f[1].Length == 0)
            {
                if (f[0] == "0") paths[Unified] = path;
                continue;
            }
            foreach (string controller in f[1].Split(','))
                paths[controller] = path;
        }
        return paths;
    }
}
