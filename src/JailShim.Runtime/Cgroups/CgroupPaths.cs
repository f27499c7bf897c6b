namespace JailShim.Runtime.Cgroups;

/// <summary>
/// Checks the names a caller hands a driver, so that no path can leave the driver root:
/// no "..", no ".", no absolute paths, no NUL.
/// </summary>
public static class CgroupPaths
{
    /// <summary>The directory the drivers nest everything under, inside the daemon's own cgroup.</summary>
    public const string DefaultRootName = "jailshim";

    /// <summary>The segments of a path relative to the driver root; "" (or "/") is the root itself.</summary>
    public static string[] Segments(string relativePath)
    {
        ArgumentNullException.ThrowIfNull(relativePath);
        string[] segments = relativePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        foreach (string s in segments)
            if (s == "." || s == ".." || s.Contains('\0'))
                throw new ArgumentException($"cgroup path '{relativePath}' has a forbidden segment '{s}'", nameof(relativePath));
        return segments;
    }

    /// <summary>The root name must be one plain directory name.</summary>
    public static string CheckRootName(string rootName)
    {
        ArgumentNullException.ThrowIfNull(rootName);
        if (rootName.Length == 0 || rootName == "." || rootName == ".." || rootName.Contains('/') || rootName.Contains('\0'))
            throw new ArgumentException($"cgroup root name '{rootName}' must be a single directory name", nameof(rootName));
        return rootName;
    }

    /// <summary>The directory for a relative path under a root directory.</summary>
    public static string Under(string rootDir, string relativePath)
    {
        string[] segments = Segments(relativePath);
        return segments.Length == 0 ? rootDir : Path.Join(rootDir, string.Join('/', segments));
    }

    /// <summary>The root directory and then each directory down to the target, parents first.</summary>
    public static IEnumerable<string> Chain(string rootDir, string relativePath)
    {
        string dir = rootDir;
        yield return dir;
        foreach (string s in Segments(relativePath))
        {
            dir = Path.Join(dir, s);
            yield return dir;
        }
    }
}
