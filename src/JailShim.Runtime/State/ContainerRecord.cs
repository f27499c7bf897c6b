using JailShim.Runtime.Specs;

namespace JailShim.Runtime.State;

/// <summary>A container as the engine keeps it; running and exit facts come from the monitor's files.</summary>
public sealed record ContainerRecord
{
    public required string Id { get; init; }
    public required string PodId { get; init; }
    public required ContainerSpec Spec { get; init; }
    public long CreatedAtNs { get; init; }
    public bool Creating { get; set; }
    public string ImageId { get; init; } = "";
    public string ImageRef { get; init; } = "";
    /// <summary>The image's layers (overlay lower dirs), kept here so they outlive a removal of the image.</summary>
    public IReadOnlyList<string> LayerDiffIds { get; init; } = [];
    /// <summary>Full host path of the CRI log file, or empty.</summary>
    public string LogPath { get; init; } = "";
    public string CgroupPath { get; init; } = "";
    public int Pid { get; set; }
    public int MonitorPid { get; set; }
    public string StopSignal { get; init; } = "";
}
