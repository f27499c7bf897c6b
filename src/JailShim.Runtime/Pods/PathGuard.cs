namespace JailShim.Runtime.Pods;

/// <summary>Checks on paths that come from a request, so none can reach where it does not belong.</summary>
public static class PathGuard
{
    /// <summary>An absolute path with no "..", "." or empty components, and nothing the spec cannot carry.</summary>
    public static string Absolute(string field, string path)
    {
        if (path.Length == 0) throw EngineException.Invalid(field, "must not be empty");
        if (path[0] != '/') throw EngineException.Invalid(field, $"\"{path}\" is not an absolute path");
        CheckComponents(field, path);
        return path.Length > 1 ? path.TrimEnd('/') : path;
    }

    /// <summary>A relative path that stays below its base: no leading '/', no "..".</summary>
    public static string Relative(string field, string path)
    {
        if (path.Length == 0) throw EngineException.Invalid(field, "must not be empty");
        if (path[0] == '/') throw EngineException.Invalid(field, $"\"{path}\" must be relative");
        CheckComponents(field, path);
        return path;
    }

    private static void CheckComponents(string field, string path)
    {
        if (path.AsSpan().IndexOfAny('\0', '\n', '\t') >= 0)
            throw EngineException.Invalid(field, "holds a NUL, tab or newline");
        foreach (string part in path.Split('/'))
            if (part is ".." or ".")
                throw EngineException.Invalid(field, $"\"{path}\" must not contain \"{part}\" components");
    }

    /// <summary>A cgroup_parent: relative to our cgroup root, without "..".</summary>
    public static string CgroupParent(string path)
    {
        if (path.Length == 0) return "";
        CheckComponents("linux.cgroup_parent", path);
        return path.Trim('/');
    }
}
