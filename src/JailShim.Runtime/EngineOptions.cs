namespace JailShim.Runtime;

/// <summary>Where the engine keeps things and the defaults it applies.</summary>
public sealed record EngineOptions
{
    /// <summary>State: one directory per sandbox and container, the image store.</summary>
    public required string Root { get; init; }

    /// <summary>Runtime files that vanish on reboot: monitor control sockets.</summary>
    public required string RunRoot { get; init; }

    /// <summary>The C program; by default next to the engine assembly.</summary>
    public string ShimPath { get; init; } = Path.Combine(AppContext.BaseDirectory, "jailshim-shim");

    /// <summary>Name of the cgroup made below the daemon's own cgroup in each hierarchy.</summary>
    public string CgroupRoot { get; init; } = "jailshim";

    /// <summary>pids.max for every container that sets none (fork bombs stay inside).</summary>
    public long DefaultPidsLimit { get; init; } = 4096;

    /// <summary>Longest log line before the monitor splits it into partial records.</summary>
    public int LogLineMax { get; init; } = 16 * 1024;
}
