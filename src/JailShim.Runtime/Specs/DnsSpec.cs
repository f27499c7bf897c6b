namespace JailShim.Runtime.Specs;

/// <summary>What goes into a pod's /etc/resolv.conf.</summary>
public sealed record DnsSpec(IReadOnlyList<string> Servers, IReadOnlyList<string> Searches, IReadOnlyList<string> Options);
