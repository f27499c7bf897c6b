namespace JailShim.Runtime.Pods;

/// <summary>The CRI container states, derived from the monitor's files.</summary>
public enum ContainerState
{
    Created,
    Running,
    Exited,
    Unknown,
}
