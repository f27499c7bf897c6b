namespace JailShim.Runtime.Pods;

/// <summary>Linux capability names and the default set a container gets (the one containerd and CRI-O give).</summary>
public static class Capabilities
{
    private static readonly string[] Names =
    [
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
        "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
        "CHECKPOINT_RESTORE",
    ];

    private static readonly string[] DefaultNames =
    [
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
        "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
    ];

    public static ulong All => (1UL << Names.Length) - 1;

    public static ulong Default => DefaultNames.Aggregate(0UL, (mask, name) => mask | Bit(name));

    /// <summary>The bit of a capability named "NET_ADMIN" or "CAP_NET_ADMIN" (any case); "ALL" is every bit.</summary>
    public static ulong Bit(string name)
    {
        string bare = name.ToUpperInvariant();
        if (bare.StartsWith("CAP_", StringComparison.Ordinal)) bare = bare[4..];
        if (bare == "ALL") return All;
        int index = Array.IndexOf(Names, bare);
        if (index < 0) throw EngineException.Invalid("capabilities", $"unknown capability \"{name}\"");
        return 1UL << index;
    }

    /// <summary>The bounding set of this process: a container can never hold more.</summary>
    public static ulong OwnBoundingSet()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("CapBnd:", StringComparison.Ordinal))
                return Convert.ToUInt64(line[7..].Trim(), 16);
        return All;
    }
}
