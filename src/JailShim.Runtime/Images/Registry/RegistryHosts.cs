using System.Net;

namespace JailShim.Runtime.Images.Registry;

/// <summary>
/// Where to fetch a registry's images from, given the daemon's registry settings:
/// the configured mirrors in order, then the registry itself. Plain HTTP is used only
/// for loopback hosts (127.0.0.0/8, localhost, [::1]) and hosts configured as insecure;
/// everything else is HTTPS. Docker Hub ("docker.io") is served by registry-1.docker.io.
/// </summary>
public sealed class RegistryHosts
{
    private const string DockerHubApiHost = "registry-1.docker.io";
    private readonly Dictionary<string, RegistryHostConfig> _hosts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IReadOnlyList<Uri>> _mirrors = new(StringComparer.Ordinal);

    /// <summary>Checks and indexes the settings; throws <see cref="FormatException"/> naming the bad entry.</summary>
    public RegistryHosts(IEnumerable<RegistryHostConfig>? hosts = null)
    {
        var list = (hosts ?? []).ToList();
        foreach (RegistryHostConfig host in list)
        {
            if (string.IsNullOrWhiteSpace(host.Host)) throw new FormatException("registries: an entry has no host");
            if (host.Host.Contains("://") || host.Host.Contains('/'))
                throw new FormatException($"registries[{host.Host}]: host is a registry name like \"docker.io\" or \"127.0.0.1:5000\", not a URL");
            string key = Canonical(host.Host);
            if (!_hosts.TryAdd(key, host)) throw new FormatException($"registries[{host.Host}]: listed twice");
            if (host.Password is not null && string.IsNullOrEmpty(host.Username))
                throw new FormatException($"registries[{host.Host}]: a password without a username");
        }
        foreach (RegistryHostConfig host in list)
        {
            var mirrors = new List<Uri>();
            for (int i = 0; i < host.Mirrors.Count; i++)
                mirrors.Add(ParseMirror(host.Mirrors[i], $"registries[{host.Host}].mirrors[{i}]"));
            _mirrors[Canonical(host.Host)] = mirrors;
        }
    }

    public IReadOnlyCollection<RegistryHostConfig> Configured => _hosts.Values;

    /// <summary>
    /// The endpoints to try for <paramref name="domain"/> (an image reference's registry), in order,
    /// each with the credentials it gets: the pull's own when they are meant for that host, else the configured ones.
    /// </summary>
    internal IReadOnlyList<RegistryEndpoint> EndpointsFor(string domain, RegistryCredentials? pullCredentials)
    {
        string key = Canonical(domain);
        var endpoints = new List<RegistryEndpoint>();
        foreach (Uri mirror in _mirrors.GetValueOrDefault(key) ?? [])
            endpoints.Add(new RegistryEndpoint(mirror, IsMirror: true, CredentialsFor(HostPort(mirror), pullCredentials)));
        string apiHost = key == ImageReference.DefaultDomain ? DockerHubApiHost : domain;
        string scheme = PlainHttpAllowed(domain) ? "http" : "https";
        endpoints.Add(new RegistryEndpoint(new Uri($"{scheme}://{apiHost}/"), IsMirror: false, CredentialsFor(domain, pullCredentials)));
        return endpoints;
    }

    /// <summary>True for loopback hosts and hosts configured insecure: the only ones we talk plain HTTP to.</summary>
    public bool PlainHttpAllowed(string host) =>
        IsLoopback(host) || (_hosts.TryGetValue(Canonical(host), out RegistryHostConfig? config) && config.Insecure);

    /// <summary>"127.0.0.1:5000", "localhost", "[::1]:80", "127.9.9.9" are loopback; names other than localhost are not resolved.</summary>
    public static bool IsLoopback(string host)
    {
        string name = StripPort(host);
        if (name.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(name.Trim('[', ']'), out IPAddress? address) && IPAddress.IsLoopback(address);
    }

    /// <summary>The key a host is known by: lowercase, and Docker Hub's aliases folded into "docker.io".</summary>
    public static string Canonical(string host)
    {
        string lower = host.Trim().ToLowerInvariant();
        return lower is "index.docker.io" or "registry-1.docker.io" or "registry.hub.docker.com" ? ImageReference.DefaultDomain : lower;
    }

    /// <summary>"https://index.docker.io/v1/" -> "index.docker.io"; "host:5000" stays.</summary>
    public static string HostOfServerAddress(string serverAddress)
    {
        string s = serverAddress.Trim();
        int scheme = s.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) s = s[(scheme + 3)..];
        int slash = s.IndexOf('/');
        return slash >= 0 ? s[..slash] : s;
    }

    private RegistryCredentials? CredentialsFor(string host, RegistryCredentials? pullCredentials)
    {
        if (pullCredentials is not null && pullCredentials.AppliesTo(host)) return pullCredentials;
        if (_hosts.TryGetValue(Canonical(host), out RegistryHostConfig? config) && !string.IsNullOrEmpty(config.Username))
            return new RegistryCredentials { Username = config.Username, Password = config.Password ?? "", ServerAddress = host };
        return null;
    }

    private Uri ParseMirror(string text, string where)
    {
        string withScheme = text.Contains("://", StringComparison.Ordinal)
            ? text
            : (PlainHttpAllowed(StripPath(text)) ? "http://" : "https://") + text;
        if (!Uri.TryCreate(withScheme, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
            throw new FormatException($"{where}: '{text}' is not an http:// or https:// endpoint");
        if (uri.AbsolutePath is not ("/" or "/v2" or "/v2/") || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
            throw new FormatException($"{where}: '{text}': give the endpoint as scheme://host[:port], without a path, query or user");
        string host = HostPort(uri);
        if (uri.Scheme == "http" && !PlainHttpAllowed(host))
            throw new FormatException(
                $"{where}: '{text}': plain HTTP is used only for loopback hosts and registries marked insecure " +
                $"(add {{\"host\": \"{host}\", \"insecure\": true}} to registries, or use https://)");
        return new Uri($"{uri.Scheme}://{uri.Authority}/");
    }

    private static string HostPort(Uri uri) => uri.IsDefaultPort ? uri.Host : uri.Authority;

    private static string StripPath(string text) => text.Split('/', 2)[0];

    private static string StripPort(string host)
    {
        if (host.StartsWith('['))
        {
            int close = host.IndexOf(']');
            return close > 0 ? host[..(close + 1)] : host;
        }
        int colon = host.LastIndexOf(':');
        return colon >= 0 && host.IndexOf(':') == colon ? host[..colon] : host;
    }
}
