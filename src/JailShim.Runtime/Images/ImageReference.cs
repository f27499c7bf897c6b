using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace JailShim.Runtime.Images;

/// <summary>
/// An image name as people type it ("busybox", "foo/bar:1", "ghcr.io/x/y@sha256:...")
/// brought to the one spelling the store keys on, with the same rules as
/// Docker/containerd: default domain docker.io, "library/" for official images,
/// tag "latest" when neither tag nor digest is given.
/// </summary>
public sealed partial record ImageReference
{
    public const string DefaultDomain = "docker.io";
    public const string DefaultTag = "latest";

    /// <summary>Registry host (and port), e.g. "docker.io", "localhost:5000", "jailshim.local".</summary>
    public string Domain { get; }

    /// <summary>Repository path inside the registry, e.g. "library/busybox".</summary>
    public string Path { get; }

    public string? Tag { get; }

    /// <summary>"sha256:&lt;hex&gt;" when the reference pins content.</summary>
    public string? Digest { get; }

    /// <summary>Domain/Path: the part a tag or digest hangs off.</summary>
    public string Repository => $"{Domain}/{Path}";

    private ImageReference(string domain, string path, string? tag, string? digest)
    {
        Domain = domain;
        Path = path;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>Parses and normalizes; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static ImageReference Parse(string reference)
    {
        return TryParse(reference, out var parsed, out string? error)
            ? parsed
            : throw new FormatException($"invalid image reference '{reference}': {error}");
    }

    public static bool TryParse(string? reference, [NotNullWhen(true)] out ImageReference? parsed) =>
        TryParse(reference, out parsed, out _);

    /// <summary>The normalized spelling, e.g. "busybox" -> "docker.io/library/busybox:latest".</summary>
    public static string Normalize(string reference) => Parse(reference).ToString();

    public override string ToString() =>
        Repository + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);

    private static bool TryParse(string? reference, [NotNullWhen(true)] out ImageReference? parsed, [NotNullWhen(false)] out string? error)
    {
        parsed = null;
        if (string.IsNullOrEmpty(reference)) { error = "empty"; return false; }

        string name = reference;
        string? digest = null;
        int at = name.IndexOf('@');
        if (at >= 0)
        {
            digest = name[(at + 1)..];
            name = name[..at];
            if (!DigestRegex().IsMatch(digest)) { error = $"bad digest '{digest}' (want sha256:<64 lowercase hex>)"; return false; }
        }

        string? tag = null;
        int colon = name.LastIndexOf(':');
        if (colon > name.LastIndexOf('/'))
        {
            tag = name[(colon + 1)..];
            name = name[..colon];
            if (!TagRegex().IsMatch(tag)) { error = $"bad tag '{tag}'"; return false; }
        }

        if (name.Length == 0) { error = "no repository name"; return false; }
        if (Images.Digest.IsHex(name) && name.Length == 64) { error = "a 64-hex string is an image id, not a name"; return false; }

        // The first component is a registry only if it looks like a host (Docker's rule); otherwise Docker Hub.
        string domain = DefaultDomain;
        string path = name;
        int slash = name.IndexOf('/');
        if (slash > 0)
        {
            string first = name[..slash];
            if (first.Contains('.') || first.Contains(':') || first == "localhost" || first.Any(char.IsUpper))
            {
                domain = first;
                path = name[(slash + 1)..];
            }
        }
        if (domain == "index.docker.io") domain = DefaultDomain;
        if (domain == DefaultDomain && !path.Contains('/')) path = "library/" + path;

        if (!DomainRegex().IsMatch(domain)) { error = $"bad registry host '{domain}'"; return false; }
        foreach (string component in path.Split('/'))
        {
            if (!PathComponentRegex().IsMatch(component))
            {
                error = $"bad path component '{component}' (lowercase letters, digits and single separators . _ __ -)";
                return false;
            }
        }
        if (domain.Length + 1 + path.Length > 255) { error = "name longer than 255 characters"; return false; }

        if (tag is null && digest is null) tag = DefaultTag;
        parsed = new ImageReference(domain, path, tag, digest);
        error = null;
        return true;
    }

    [GeneratedRegex("^sha256:[0-9a-f]{64}$")]
    private static partial Regex DigestRegex();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagRegex();

    [GeneratedRegex(@"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]+)?$")]
    private static partial Regex DomainRegex();

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")]
    private static partial Regex PathComponentRegex();
}
