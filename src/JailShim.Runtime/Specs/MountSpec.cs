namespace JailShim.Runtime.Specs;

/// <summary>A host path bound into a container.</summary>
public sealed record MountSpec(string ContainerPath, string HostPath, bool ReadOnly);
