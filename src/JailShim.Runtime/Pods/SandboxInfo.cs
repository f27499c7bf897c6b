using JailShim.Runtime.State;

namespace JailShim.Runtime.Pods;

/// <summary>A sandbox as a caller sees it: the record, and whether its infra process still holds the pod.</summary>
public sealed record SandboxInfo(SandboxRecord Record, bool Ready);
