using JailShim.Cri;
using JailShim.Runtime;
using JailShim.Runtime.Cgroups;
using JailShim.Runtime.Images;
using JailShim.Runtime.Images.Registry;
using JailShim.Telemetry;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace JailShim.Hosting;

/// <summary>Builds and runs the daemon: engine, gRPC services on the sockets, telemetry.</summary>
public static class DaemonHost
{
    private const int MaxMessageSize = 16 * 1024 * 1024; // as the kubelet allows

    public static async Task<int> RunAsync(DaemonOptions options)
    {
        List<ListenAddress> addresses;
        DaemonConfigFile config;
        try
        {
            addresses = options.Listen.Select(ListenAddress.Parse).ToList();
            config = options.ConfigFile is { } configPath ? DaemonConfigFile.Load(configPath) : new DaemonConfigFile();
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"jailshim: {e.Message}");
            return 2;
        }
        Directory.CreateDirectory(options.Root);
        Directory.CreateDirectory(options.RunRoot);

        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(options.LogLevel);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (ListenAddress address in addresses)
            {
                if (address.SocketPath is { } path)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    File.Delete(path); // a stale socket from a crash would make bind fail
                    kestrel.ListenUnixSocket(path, l => l.Protocols = HttpProtocols.Http2);
                }
                else
                {
                    kestrel.Listen(address.Tcp!, l => l.Protocols = HttpProtocols.Http2);
                }
            }
        });

        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = MaxMessageSize;
            grpc.MaxSendMessageSize = MaxMessageSize;
            grpc.EnableDetailedErrors = true;
            grpc.Interceptors.Add<RpcInterceptor>();
        });
        builder.Services.AddGrpcReflection();
        builder.Services.AddGrpcHealthChecks();
        AddTracing(builder.Services, options);

        using ILoggerFactory startupLogs = LoggerFactory.Create(l => l.AddSimpleConsole().SetMinimumLevel(options.LogLevel));
        ILogger log = startupLogs.CreateLogger("JailShim");

        foreach (RegistryHostConfig registry in config.Registries)
            log.LogInformation("registry {Registry}", registry);
        var images = new ImageStore(Path.Combine(options.Root, "images"))
        {
            Registry = new RegistryClient(new RegistryHosts(config.Registries)),
        };
        await BaseImage.EnsureAsync(images, log);
        if (options.ImportDir is { } importDir) await StartupImport.RunAsync(images, importDir, log);
        ICgroupDriver cgroups = CgroupDriverProbe.Detect(CgroupHost.Read(), options.CgroupRoot);
        log.LogInformation("cgroup driver {Kind}", cgroups.Kind);

        builder.Services.AddSingleton(images);
        builder.Services.AddSingleton(cgroups);
        builder.Services.AddSingleton(new EngineOptions
        {
            Root = options.Root,
            RunRoot = options.RunRoot,
            CgroupRoot = options.CgroupRoot,
            DefaultPidsLimit = options.DefaultPidsLimit,
        });
        builder.Services.AddSingleton<Engine>();

        WebApplication app = builder.Build();
        await app.Services.GetRequiredService<Engine>().RecoverAsync(CancellationToken.None);
        // Layers a crash or a deferred collection left behind; only now are the containers' layers known.
        ImageGarbage garbage = app.Services.GetRequiredService<Engine>().CollectImageGarbage();
        if (garbage.LayersRemoved + garbage.BlobsRemoved > 0)
            log.LogInformation("image store: removed {Layers} unused layers and {Blobs} unused blobs", garbage.LayersRemoved, garbage.BlobsRemoved);

        app.MapGrpcService<RuntimeService>();
        app.MapGrpcService<ImageService>();
        app.MapGrpcReflectionService();
        app.MapGrpcHealthChecksService();

        app.Lifetime.ApplicationStarted.Register(() =>
        {
            foreach (ListenAddress address in addresses.Where(a => a.SocketPath is not null))
                File.SetUnixFileMode(address.SocketPath!,
                    UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
            log.LogInformation("serving the CRI on {Addresses}", string.Join(", ", options.Listen));
        });
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            // Containers keep running under their monitors; only the sockets go.
            foreach (ListenAddress address in addresses.Where(a => a.SocketPath is not null))
                File.Delete(address.SocketPath!);
            // With no pods left, the daemon's own cgroup root goes too; with pods, it stays for them.
            if (app.Services.GetRequiredService<Engine>().ListSandboxes().Count == 0)
            {
                try { cgroups.Remove(""); }
                catch (Exception e) { log.LogDebug("cgroup root kept: {Error}", e.Message); }
            }
        });

        await app.RunAsync();
        return 0;
    }

    private static void AddTracing(IServiceCollection services, DaemonOptions options)
    {
        bool otlp = Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 }
            || Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") is { Length: > 0 };
        if (!otlp && !options.TraceConsole && options.TraceFile is null) return; // no exporter, no tracing cost

        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("jailshim"))
            .WithTracing(tracing =>
            {
                tracing.AddSource(RpcInterceptor.SourceName, Runtime.Telemetry.EngineTelemetry.SourceName);
                if (otlp) tracing.AddOtlpExporter();
                if (options.TraceConsole) tracing.AddConsoleExporter();
                if (options.TraceFile is { } file)
                    tracing.AddProcessor(new SimpleActivityExportProcessor(new JsonLinesExporter(file)));
            });
    }
}
