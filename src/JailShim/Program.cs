using System.CommandLine;
using JailShim.Hosting;

var listen = new Option<string[]>("--listen")
{
    Description = "Address to serve the CRI on: unix:///PATH (socket mode 0660) or tcp://127.0.0.1:PORT (loopback only). Repeatable.",
    DefaultValueFactory = _ => [DaemonOptions.DefaultSocket],
    AllowMultipleArgumentsPerToken = false,
};
var root = new Option<string>("--root")
{
    Description = "State directory: pods, containers, image store.",
    DefaultValueFactory = _ => "/var/lib/jailshim",
};
var runRoot = new Option<string>("--run-root")
{
    Description = "Runtime directory (tmpfs): monitor control sockets.",
    DefaultValueFactory = _ => "/run/jailshim",
};
var cgroupRoot = new Option<string>("--cgroup-root")
{
    Description = "Name of the cgroup made below the daemon's own cgroup in each hierarchy; every pod and container nests in it.",
    DefaultValueFactory = _ => "jailshim",
};
var pidsLimit = new Option<long>("--default-pids-limit")
{
    Description = "pids.max of a container that sets no limit.",
    DefaultValueFactory = _ => 4096,
};
var traceConsole = new Option<bool>("--trace-console") { Description = "Print every span to stdout." };
var traceFile = new Option<string?>("--trace-file") { Description = "Append every span as a JSON line to this file." };
var logLevel = new Option<LogLevel>("--log-level")
{
    Description = "Trace, Debug, Information, Warning, Error.",
    DefaultValueFactory = _ => LogLevel.Information,
};

var config = new Option<string?>("--config")
{
    Description = "JSON config file: registry mirrors, insecure registries and credentials (see README, Registries).",
};

var importDir = new Option<string?>("--import-dir")
{
    Description = "Directory of images to import at start: every *.tar / *.tar.gz archive (docker save, OCI) and OCI layout directory in it; images already stored are skipped.",
};

var command = new RootCommand(
    "JailShim: a CRI (runtime.v1) container runtime. OTLP export is on when OTEL_EXPORTER_OTLP_ENDPOINT is set.")
{
    listen, root, runRoot, cgroupRoot, pidsLimit, traceConsole, traceFile, logLevel, config, importDir,
};
command.Subcommands.Add(ImageCommand.Build());
command.SetAction(parse => DaemonHost.RunAsync(new DaemonOptions
{
    Listen = parse.GetValue(listen)!,
    Root = Path.GetFullPath(parse.GetValue(root)!),
    RunRoot = Path.GetFullPath(parse.GetValue(runRoot)!),
    CgroupRoot = parse.GetValue(cgroupRoot)!,
    DefaultPidsLimit = parse.GetValue(pidsLimit),
    TraceConsole = parse.GetValue(traceConsole),
    TraceFile = parse.GetValue(traceFile) is { } file ? Path.GetFullPath(file) : null,
    LogLevel = parse.GetValue(logLevel),
    ConfigFile = parse.GetValue(config) is { } configFile ? Path.GetFullPath(configFile) : null,
    ImportDir = parse.GetValue(importDir) is { } dir ? Path.GetFullPath(dir) : null,
}));

// The host handles SIGTERM/SIGINT itself (clean shutdown); the parser must not cut it short.
return await command.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
