namespace JailShim.Runtime.Cgroups;

/// <summary>A cgroup made by a driver: its path below the driver root and the files to join it.</summary>
public sealed record Cgroup(string RelativePath, IReadOnlyList<string> ProcsFiles);
