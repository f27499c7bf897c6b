namespace JailShim.Runtime.Pods;

/// <summary>A process named by pid plus its start time, so a recycled pid is never mistaken for ours.</summary>
public static class ProcessIdentity
{
    /// <summary>Start time in clock ticks since boot (field 22 of /proc/PID/stat), or null if the process is gone.</summary>
    public static ulong? StartTime(int pid)
    {
        string stat;
        try { stat = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        // The command name (field 2) may hold spaces and parens: count fields after the last ')'.
        string[] rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return ulong.Parse(rest[19]);
    }

    /// <summary>True when the process with this pid is the one that started at that time and is not a zombie.</summary>
    public static bool IsAlive(int pid, ulong startTime)
    {
        if (pid <= 0 || StartTime(pid) != startTime) return false;
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2] != 'Z';
        }
        catch (IOException) { return false; }
    }
}
