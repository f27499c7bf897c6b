using Grpc.Core;
using JailShim.Cri.V1;
using JailShim.Runtime.Cgroups;
using JailShim.Runtime.Pods;
using JailShim.Runtime.Specs;
using EngineNamespaceMode = JailShim.Runtime.Specs.NamespaceMode;
using CriNamespaceMode = JailShim.Cri.V1.NamespaceMode;
using CriContainerState = JailShim.Cri.V1.ContainerState;
using EngineContainerState = JailShim.Runtime.Pods.ContainerState;

namespace JailShim.Cri;

/// <summary>Translates CRI messages into engine specs, and engine views back into CRI messages.</summary>
public static class CriMapping
{
    public static RpcException Invalid(string field, string problem) =>
        new(new Status(StatusCode.InvalidArgument, $"{field}: {problem}"));

    public static SandboxSpec ToSandboxSpec(RunPodSandboxRequest request)
    {
        PodSandboxConfig config = request.Config ?? throw Invalid("config", "is required");
        PodSandboxMetadata metadata = config.Metadata ?? throw Invalid("config.metadata", "is required");
        NamespaceOption? ns = config.Linux?.SecurityContext?.NamespaceOptions;
        if (ns?.Network == CriNamespaceMode.Container) throw Invalid("config.linux.security_context.namespace_options.network", "CONTAINER is not valid for a pod");
        if (ns?.Ipc == CriNamespaceMode.Container) throw Invalid("config.linux.security_context.namespace_options.ipc", "CONTAINER is not valid for a pod");
        return new SandboxSpec
        {
            Name = metadata.Name,
            Uid = metadata.Uid,
            Namespace = metadata.Namespace,
            Attempt = metadata.Attempt,
            Hostname = config.Hostname,
            LogDirectory = config.LogDirectory,
            Dns = config.DnsConfig is { } dns ? new DnsSpec(dns.Servers.ToList(), dns.Searches.ToList(), dns.Options.ToList()) : null,
            Network = ToEngine(ns?.Network ?? CriNamespaceMode.Pod, "network"),
            Pid = ToEngine(ns?.Pid ?? CriNamespaceMode.Pod, "pid"),
            Ipc = ToEngine(ns?.Ipc ?? CriNamespaceMode.Pod, "ipc"),
            CgroupParent = config.Linux?.CgroupParent ?? "",
            RuntimeHandler = request.RuntimeHandler,
            Labels = new Dictionary<string, string>(config.Labels),
            Annotations = new Dictionary<string, string>(config.Annotations),
        };
    }

    public static ContainerSpec ToContainerSpec(CreateContainerRequest request)
    {
        ContainerConfig config = request.Config ?? throw Invalid("config", "is required");
        ContainerMetadata metadata = config.Metadata ?? throw Invalid("config.metadata", "is required");
        if (config.Image is null || config.Image.Image.Length == 0) throw Invalid("config.image", "is required");
        LinuxContainerConfig? linux = config.Linux;
        LinuxContainerSecurityContext? security = linux?.SecurityContext;
        LinuxContainerResources? resources = linux?.Resources;
        if (config.Tty) throw Invalid("config.tty", "terminals are not supported yet");
        if (config.Stdin) throw Invalid("config.stdin", "stdin is not supported yet");
        return new ContainerSpec
        {
            Name = metadata.Name,
            Attempt = metadata.Attempt,
            Image = config.Image.Image,
            Command = config.Command.ToList(),
            Args = config.Args.ToList(),
            WorkingDir = config.WorkingDir,
            Env = config.Envs.Select(e => new KeyValuePair<string, string>(e.Key, e.Value)).ToList(),
            Mounts = config.Mounts.Select(m => new MountSpec(m.ContainerPath, m.HostPath, m.Readonly)).ToList(),
            LogPath = config.LogPath,
            ReadOnlyRootfs = security?.ReadonlyRootfs ?? false,
            RunAsUser = security?.RunAsUser?.Value,
            RunAsGroup = security?.RunAsGroup?.Value,
            SupplementalGroups = security?.SupplementalGroups.ToList() ?? [],
            NoNewPrivileges = security?.NoNewPrivs ?? false,
            Privileged = security?.Privileged ?? false,
            AddCapabilities = security?.Capabilities?.AddCapabilities.ToList() ?? [],
            DropCapabilities = security?.Capabilities?.DropCapabilities.ToList() ?? [],
            Pid = security?.NamespaceOptions is { } ns ? ToEngine(ns.Pid, "pid") : null,
            Resources = resources is null ? CgroupLimits.None : ToLimits(resources),
            OomScoreAdj = resources is { OomScoreAdj: not 0 } ? resources.OomScoreAdj : null,
            Labels = new Dictionary<string, string>(config.Labels),
            Annotations = new Dictionary<string, string>(config.Annotations),
        };
    }

    private static CgroupLimits ToLimits(LinuxContainerResources r)
    {
        if (r.CpuShares < 0) throw Invalid("linux.resources.cpu_shares", "must not be negative");
        if (r.CpuPeriod < 0) throw Invalid("linux.resources.cpu_period", "must not be negative");
        if (r.MemoryLimitInBytes < 0) throw Invalid("linux.resources.memory_limit_in_bytes", "must not be negative");
        return new CgroupLimits
        {
            CpuShares = r.CpuShares > 0 ? r.CpuShares : null,
            CpuPeriodUs = r.CpuPeriod > 0 ? r.CpuPeriod : null,
            CpuQuotaUs = r.CpuQuota != 0 ? r.CpuQuota : null,
            MemoryLimitBytes = r.MemoryLimitInBytes > 0 ? r.MemoryLimitInBytes : null,
            CpusetCpus = r.CpusetCpus.Length > 0 ? r.CpusetCpus : null,
            CpusetMems = r.CpusetMems.Length > 0 ? r.CpusetMems : null,
        };
    }

    private static EngineNamespaceMode ToEngine(CriNamespaceMode mode, string which) => mode switch
    {
        CriNamespaceMode.Pod => EngineNamespaceMode.Pod,
        CriNamespaceMode.Container => EngineNamespaceMode.Container,
        CriNamespaceMode.Node => EngineNamespaceMode.Node,
        _ => throw Invalid($"namespace_options.{which}", $"{mode} is not supported"),
    };

    private static CriNamespaceMode ToCri(EngineNamespaceMode mode) => mode switch
    {
        EngineNamespaceMode.Pod => CriNamespaceMode.Pod,
        EngineNamespaceMode.Container => CriNamespaceMode.Container,
        _ => CriNamespaceMode.Node,
    };

    public static PodSandboxMetadata Metadata(SandboxSpec spec) =>
        new() { Name = spec.Name, Uid = spec.Uid, Namespace = spec.Namespace, Attempt = spec.Attempt };

    public static PodSandboxState State(SandboxInfo info) =>
        info.Ready ? PodSandboxState.SandboxReady : PodSandboxState.SandboxNotready;

    public static PodSandbox ToPodSandbox(SandboxInfo info)
    {
        var pod = new PodSandbox
        {
            Id = info.Record.Id,
            Metadata = Metadata(info.Record.Spec),
            State = State(info),
            CreatedAt = info.Record.CreatedAtNs,
            RuntimeHandler = info.Record.Spec.RuntimeHandler,
        };
        pod.Labels.AddAll(info.Record.Spec.Labels);
        pod.Annotations.AddAll(info.Record.Spec.Annotations);
        return pod;
    }

    public static PodSandboxStatus ToPodSandboxStatus(SandboxInfo info)
    {
        SandboxSpec spec = info.Record.Spec;
        var status = new PodSandboxStatus
        {
            Id = info.Record.Id,
            Metadata = Metadata(spec),
            State = State(info),
            CreatedAt = info.Record.CreatedAtNs,
            Network = new PodSandboxNetworkStatus { Ip = "" },
            Linux = new LinuxPodSandboxStatus
            {
                Namespaces = new Namespace
                {
                    Options = new NamespaceOption { Network = ToCri(spec.Network), Pid = ToCri(spec.Pid), Ipc = ToCri(spec.Ipc) },
                },
            },
            RuntimeHandler = spec.RuntimeHandler,
        };
        status.Labels.AddAll(spec.Labels);
        status.Annotations.AddAll(spec.Annotations);
        return status;
    }

    public static ContainerMetadata Metadata(ContainerSpec spec) => new() { Name = spec.Name, Attempt = spec.Attempt };

    public static CriContainerState State(ContainerInfo info) => info.State switch
    {
        EngineContainerState.Created => CriContainerState.ContainerCreated,
        EngineContainerState.Running => CriContainerState.ContainerRunning,
        EngineContainerState.Exited => CriContainerState.ContainerExited,
        _ => CriContainerState.ContainerUnknown,
    };

    public static Container ToContainer(ContainerInfo info)
    {
        var container = new Container
        {
            Id = info.Record.Id,
            PodSandboxId = info.Record.PodId,
            Metadata = Metadata(info.Record.Spec),
            Image = new ImageSpec { Image = info.Record.Spec.Image },
            ImageRef = info.Record.ImageRef,
            ImageId = info.Record.ImageId,
            State = State(info),
            CreatedAt = info.Record.CreatedAtNs,
        };
        container.Labels.AddAll(info.Record.Spec.Labels);
        container.Annotations.AddAll(info.Record.Spec.Annotations);
        return container;
    }

    public static ContainerStatus ToContainerStatus(ContainerInfo info)
    {
        ContainerSpec spec = info.Record.Spec;
        var status = new ContainerStatus
        {
            Id = info.Record.Id,
            Metadata = Metadata(spec),
            State = State(info),
            CreatedAt = info.Record.CreatedAtNs,
            StartedAt = info.StartedAtNs,
            FinishedAt = info.FinishedAtNs,
            ExitCode = info.ExitCode,
            Image = new ImageSpec { Image = spec.Image },
            ImageRef = info.Record.ImageRef,
            ImageId = info.Record.ImageId,
            Reason = info.Reason,
            Message = info.Message,
            LogPath = info.Record.LogPath,
        };
        status.Labels.AddAll(spec.Labels);
        status.Annotations.AddAll(spec.Annotations);
        status.Mounts.Add(spec.Mounts.Select(m => new Mount { ContainerPath = m.ContainerPath, HostPath = m.HostPath, Readonly = m.ReadOnly }));
        return status;
    }

    private static void AddAll(this Google.Protobuf.Collections.MapField<string, string> map, IReadOnlyDictionary<string, string> from)
    {
        foreach (var (key, value) in from) map[key] = value;
    }

    /// <summary>True when every label of the selector is on the object with the same value.</summary>
    public static bool Matches(IReadOnlyDictionary<string, string> labels, IDictionary<string, string> selector) =>
        selector.All(s => labels.TryGetValue(s.Key, out string? value) && value == s.Value);
}
