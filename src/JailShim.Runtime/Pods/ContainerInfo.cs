using JailShim.Runtime.State;

namespace JailShim.Runtime.Pods;

/// <summary>A container as a caller sees it: what was asked for, and where it is now.</summary>
public sealed record ContainerInfo(
    ContainerRecord Record,
    ContainerState State,
    long StartedAtNs,
    long FinishedAtNs,
    int ExitCode,
    string Reason,
    string Message);
