namespace JailShim.Runtime.Pods;

/// <summary>The monitor's exit file: "CODE SIGNAL STARTED_NS FINISHED_NS".</summary>
public sealed record ExitRecord(int Code, int Signal, long StartedAtNs, long FinishedAtNs)
{
    public const string FileName = "exit";
    public const string StartedFileName = "started";

    public static ExitRecord? Read(string stateDir)
    {
        string text;
        try { text = File.ReadAllText(Path.Combine(stateDir, FileName)); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        string[] f = text.Trim().Split(' ');
        if (f.Length < 4) return null;
        return new ExitRecord(int.Parse(f[0]), int.Parse(f[1]), long.Parse(f[2]), long.Parse(f[3]));
    }

    /// <summary>When the container's process was exec'd, from the monitor's "started" file (0 if never).</summary>
    public static long ReadStarted(string stateDir)
    {
        try { return long.Parse(File.ReadAllText(Path.Combine(stateDir, StartedFileName)).Trim()); }
        catch (FileNotFoundException) { return 0; }
        catch (DirectoryNotFoundException) { return 0; }
    }
}
