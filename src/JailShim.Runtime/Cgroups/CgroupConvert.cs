using System.Globalization;

namespace JailShim.Runtime.Cgroups;

/// <summary>
/// Value conversions between CRI terms and cgroup files, the same the kubelet and runc use.
/// In <see cref="CgroupLimits"/> read back from the kernel, -1 means "unlimited".
/// </summary>
public static class CgroupConvert
{
    public const long MinShares = 2;
    public const long MaxShares = 262144;
    public const long MaxWeight = 10000;

    /// <summary>v1 cpu.shares [2, 262144] to v2 cpu.weight [1, 10000].</summary>
    public static long SharesToWeight(long shares)
    {
        shares = Math.Clamp(shares, MinShares, MaxShares);
        return 1 + ((shares - 2) * 9999) / 262142;
    }

    /// <summary>The smallest shares value that maps to this weight (the mapping loses precision).</summary>
    public static long WeightToShares(long weight)
    {
        weight = Math.Clamp(weight, 1, MaxWeight);
        return 2 + ((weight - 1) * 262142 + 9998) / 9999;
    }

    /// <summary>
    /// v1 reports "no memory limit" as a page-rounded LONG_MAX (9223372036854771712); anything
    /// that large is unlimited.
    /// </summary>
    public static long V1MemoryLimit(string text)
    {
        long v = long.Parse(text, CultureInfo.InvariantCulture);
        return v >= long.MaxValue - 0xFFFF ? -1 : v;
    }

    /// <summary>"max" or a number, as in pids.max and memory.max; "max" reads as -1.</summary>
    public static long MaxOrNumber(string text) =>
        text == "max" ? -1 : long.Parse(text, CultureInfo.InvariantCulture);

    /// <summary>A limit to write where ≤ 0 means unlimited ("max" on v2 files, -1 on v1 files).</summary>
    public static string Limit(long value, string unlimited) =>
        value <= 0 ? unlimited : value.ToString(CultureInfo.InvariantCulture);

    public static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The number on a "key N" line of a flat-keyed file (memory.events, memory.oom_control), or null.</summary>
    public static long? KeyedValue(string? text, string key)
    {
        if (text is null) return null;
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 2 && f[0] == key && long.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out long v))
                return v;
        }
        return null;
    }
}
