using System.Text;

namespace JailShim.Runtime.Cgroups;

/// <summary>
/// One cgroup filesystem mount from /proc/self/mountinfo.
/// <paramref name="Root"/> is the cgroup path the mount shows at its mount point ("/" normally,
/// a deeper path inside some containers); <paramref name="Options"/> are the super options, which on
/// v1 name the controllers ("cpu", "memory", "name=systemd", ...).
/// </summary>
public sealed record CgroupMount(string MountPoint, string Root, string FsType, IReadOnlyList<string> Options)
{
    public bool IsV2 => FsType == "cgroup2";

    public bool IsV1 => FsType == "cgroup";

    /// <summary>True for a v1 mount carrying this controller.</summary>
    public bool HasV1Controller(string controller) => IsV1 && Options.Contains(controller);

    /// <summary>The cgroup mounts listed in mountinfo text, in file order.</summary>
    public static IReadOnlyList<CgroupMount> ParseMountInfo(string mountinfo)
    {
        var mounts = new List<CgroupMount>();
        foreach (string line in mountinfo.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "id parent maj:min root mountpoint opts [optional...] - fstype source superopts"
            string[] f = line.Split(' ');
            int dash = Array.IndexOf(f, "-");
            if (dash < 6 || f.Length < dash + 4) continue;
            string fsType = f[dash + 1];
            if (fsType != "cgroup" && fsType != "cgroup2") continue;
            string[] options = f[dash + 3].Split(',').Where(o => o != "rw" && o != "ro").ToArray();
            mounts.Add(new CgroupMount(Unescape(f[4]), Unescape(f[3]), fsType, options));
        }
        return mounts;
    }

    // mountinfo escapes space, tab, newline and backslash as \ooo octal; all are ASCII.
    private static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && IsOctal(s, i + 1))
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }

    private static bool IsOctal(string s, int at) =>
        at + 3 <= s.Length && s.Substring(at, 3).All(c => c is >= '0' and <= '7');
}
