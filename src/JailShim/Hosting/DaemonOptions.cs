namespace JailShim.Hosting;

/// <summary>The daemon's settings, from its command line.</summary>
public sealed record DaemonOptions
{
    public const string DefaultSocket = "unix:///run/jailshim/jailshim.sock";

    /// <summary>Addresses to serve: unix:///path (mode 0660) or tcp://127.0.0.1:PORT (loopback only).</summary>
    public IReadOnlyList<string> Listen { get; init; } = [DefaultSocket];
    public string Root { get; init; } = "/var/lib/jailshim";
    public string RunRoot { get; init; } = "/run/jailshim";
    public string CgroupRoot { get; init; } = "jailshim";
    public long DefaultPidsLimit { get; init; } = 4096;
    public bool TraceConsole { get; init; }
    public string? TraceFile { get; init; }
    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    /// <summary>The --config file, when one was given (absolute path).</summary>
    public string? ConfigFile { get; init; }

    /// <summary>--import-dir: archives and OCI layouts imported at start (absolute path), or null.</summary>
    public string? ImportDir { get; init; }
}
