namespace JailShim.Runtime.Cgroups;

/// <summary>
/// Resource limits in CRI terms (shares, CFS quota/period in µs, bytes); null means "leave as is".
/// Written: shares or period ≤ 0 and empty cpuset strings are left as is (CRI's "unset");
/// quota, memory and pids ≤ 0 mean unlimited. Read back from the kernel: -1 means unlimited,
/// null means the controller is not there.
/// </summary>
public sealed record CgroupLimits
{
    public long? CpuShares { get; init; }
    public long? CpuQuotaUs { get; init; }
    public long? CpuPeriodUs { get; init; }
    public long? MemoryLimitBytes { get; init; }
    public string? CpusetCpus { get; init; }
    public string? CpusetMems { get; init; }
    public long? PidsLimit { get; init; }

    public static CgroupLimits None { get; } = new();
}
