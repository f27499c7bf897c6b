namespace JailShim.Runtime.Specs;

/// <summary>Everything the engine needs to make a pod sandbox.</summary>
public sealed record SandboxSpec
{
    public required string Name { get; init; }
    public required string Uid { get; init; }
    public required string Namespace { get; init; }
    public uint Attempt { get; init; }
    public string Hostname { get; init; } = "";
    public string LogDirectory { get; init; } = "";
    public DnsSpec? Dns { get; init; }
    public NamespaceMode Network { get; init; } = NamespaceMode.Pod;
    public NamespaceMode Pid { get; init; } = NamespaceMode.Pod;
    public NamespaceMode Ipc { get; init; } = NamespaceMode.Pod;
    public string CgroupParent { get; init; } = "";
    public string RuntimeHandler { get; init; } = "";
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();
}
