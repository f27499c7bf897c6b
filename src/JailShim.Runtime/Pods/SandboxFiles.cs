using System.Text;
using JailShim.Runtime.Specs;

namespace JailShim.Runtime.Pods;

/// <summary>The /etc files a pod's containers share: hosts, hostname, resolv.conf.</summary>
public static class SandboxFiles
{
    public const string Hosts = "hosts";
    public const string Hostname = "hostname";
    public const string ResolvConf = "resolv.conf";

    public static async Task WriteAsync(string sandboxDir, string hostname, DnsSpec? dns, bool hostNetwork,
        CancellationToken cancellationToken)
    {
        string hostsText = hostNetwork && File.Exists("/etc/hosts")
            ? await File.ReadAllTextAsync("/etc/hosts", cancellationToken)
            : $"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{(hostname.Length > 0 ? $"127.0.1.1\t{hostname}\n" : "")}";
        await File.WriteAllTextAsync(Path.Combine(sandboxDir, Hosts), hostsText, cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(sandboxDir, Hostname), hostname + "\n", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(sandboxDir, ResolvConf), ResolvConfText(dns), cancellationToken);
    }

    /// <summary>resolv.conf from the pod's DNS config; with none, the host's (as the kubelet's default policy).</summary>
    public static string ResolvConfText(DnsSpec? dns)
    {
        if (dns is null || (dns.Servers.Count == 0 && dns.Searches.Count == 0 && dns.Options.Count == 0))
            return File.Exists("/etc/resolv.conf") ? File.ReadAllText("/etc/resolv.conf") : "";
        var text = new StringBuilder();
        if (dns.Searches.Count > 0) text.Append("search ").AppendJoin(' ', dns.Searches).Append('\n');
        foreach (string server in dns.Servers) text.Append("nameserver ").Append(server).Append('\n');
        if (dns.Options.Count > 0) text.Append("options ").AppendJoin(' ', dns.Options).Append('\n');
        return text.ToString();
    }
}
