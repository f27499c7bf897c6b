using JailShim.Runtime.Cgroups;

namespace JailShim.Runtime.Specs;

/// <summary>Everything the engine needs to make a container in a pod.</summary>
public sealed record ContainerSpec
{
    public required string Name { get; init; }
    public uint Attempt { get; init; }
    public required string Image { get; init; }
    public IReadOnlyList<string> Command { get; init; } = [];
    public IReadOnlyList<string> Args { get; init; } = [];
    public string WorkingDir { get; init; } = "";
    public IReadOnlyList<KeyValuePair<string, string>> Env { get; init; } = [];
    public IReadOnlyList<MountSpec> Mounts { get; init; } = [];
    /// <summary>Relative to the pod's log directory; empty means no log.</summary>
    public string LogPath { get; init; } = "";
    public bool ReadOnlyRootfs { get; init; }
    public long? RunAsUser { get; init; }
    public long? RunAsGroup { get; init; }
    public IReadOnlyList<long> SupplementalGroups { get; init; } = [];
    public bool NoNewPrivileges { get; init; }
    public bool Privileged { get; init; }
    public IReadOnlyList<string> AddCapabilities { get; init; } = [];
    public IReadOnlyList<string> DropCapabilities { get; init; } = [];
    /// <summary>Null: follow the pod (CRI default is the pod's setting for ipc/network, and per request for pid).</summary>
    public NamespaceMode? Pid { get; init; }
    public CgroupLimits Resources { get; init; } = CgroupLimits.None;
    public long? OomScoreAdj { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();
}
