using JailShim.Runtime.Cgroups;

namespace JailShim.Runtime.Tests;

/// <summary>A test that needs root on a host whose cpu and memory controllers are on cgroup v1.</summary>
public sealed class CgroupV1HostFactAttribute : FactAttribute
{
    public CgroupV1HostFactAttribute()
    {
        if (Tmds.Linux.LibC.geteuid() != 0) Skip = "needs root";
        else if (CgroupDriverProbe.Detect().Kind != "v1") Skip = "needs a cgroup v1 (or hybrid) host";
    }
}
