using JailShim.Runtime.Specs;

namespace JailShim.Runtime.State;

/// <summary>Where a sandbox is in its life, as kept on disk.</summary>
public enum SandboxPhase
{
    Creating,
    Ready,
    Stopped,
}

/// <summary>A pod sandbox as the engine keeps it: the request, and what was made for it.</summary>
public sealed record SandboxRecord
{
    public required string Id { get; init; }
    public required SandboxSpec Spec { get; init; }
    public long CreatedAtNs { get; init; }
    public SandboxPhase Phase { get; set; }
    public int InfraPid { get; set; }
    /// <summary>Start time of the infra process (clock ticks since boot), so a reused pid is never taken for it.</summary>
    public ulong InfraStartTime { get; set; }
    public string CgroupPath { get; init; } = "";
    /// <summary>Pinned namespace files by type (net, ipc, uts, pid).</summary>
    public Dictionary<string, string> Namespaces { get; init; } = [];
}
