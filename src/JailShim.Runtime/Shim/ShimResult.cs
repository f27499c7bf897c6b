namespace JailShim.Runtime.Shim;

/// <summary>What jailshim-shim reported: the process it made (and its monitor) and the phases it timed.</summary>
public sealed record ShimResult(int Pid, int MonitorPid, IReadOnlyList<ShimPhase> Phases);
