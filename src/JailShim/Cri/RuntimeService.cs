using System.Text.Json;
using Grpc.Core;
using JailShim.Cri.V1;
using JailShim.Runtime;
using JailShim.Runtime.Pods;

namespace JailShim.Cri;

/// <summary>
/// The CRI RuntimeService: a thin layer that checks the request, calls the
/// engine and maps the answer. RPCs not overridden here answer UNIMPLEMENTED.
/// </summary>
public sealed class RuntimeService(Engine engine) : V1.RuntimeService.RuntimeServiceBase
{
    public const string RuntimeName = "jailshim";
    public const string ApiVersion = "v1";

    public override Task<VersionResponse> Version(VersionRequest request, ServerCallContext context) =>
        Task.FromResult(new VersionResponse
        {
            Version = "0.1.0", // the CRI's own version field: the kubelet expects this value
            RuntimeName = RuntimeName,
            RuntimeVersion = typeof(RuntimeService).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
            RuntimeApiVersion = ApiVersion,
        });

    public override Task<StatusResponse> Status(StatusRequest request, ServerCallContext context)
    {
        var response = new StatusResponse
        {
            Status = new RuntimeStatus
            {
                Conditions =
                {
                    new RuntimeCondition { Type = "RuntimeReady", Status = true },
                    new RuntimeCondition { Type = "NetworkReady", Status = true },
                },
            },
        };
        response.RuntimeHandlers.Add(new RuntimeHandler { Name = "", Features = new RuntimeHandlerFeatures() });
        if (request.Verbose) response.Info["config"] = JsonSerializer.Serialize(new { cgroupDriver = engine.Cgroups.Kind });
        return Task.FromResult(response);
    }

    /// <summary>The kubelet asks which cgroup driver to use for pod cgroup parents: ours are plain cgroupfs paths.</summary>
    public override Task<RuntimeConfigResponse> RuntimeConfig(RuntimeConfigRequest request, ServerCallContext context) =>
        Task.FromResult(new RuntimeConfigResponse
        {
            Linux = new LinuxRuntimeConfiguration { CgroupDriver = CgroupDriver.Cgroupfs },
        });

    public override async Task<RunPodSandboxResponse> RunPodSandbox(RunPodSandboxRequest request, ServerCallContext context)
    {
        if (request.RuntimeHandler.Length > 0)
            throw CriMapping.Invalid("runtime_handler", $"unknown runtime handler \"{request.RuntimeHandler}\" (only the default one exists)");
        string id = await engine.RunSandboxAsync(CriMapping.ToSandboxSpec(request), context.CancellationToken);
        return new RunPodSandboxResponse { PodSandboxId = id };
    }

    public override async Task<StopPodSandboxResponse> StopPodSandbox(StopPodSandboxRequest request, ServerCallContext context)
    {
        RequireId(request.PodSandboxId, "pod_sandbox_id");
        await engine.StopSandboxAsync(request.PodSandboxId, context.CancellationToken);
        return new StopPodSandboxResponse();
    }

    public override async Task<RemovePodSandboxResponse> RemovePodSandbox(RemovePodSandboxRequest request, ServerCallContext context)
    {
        RequireId(request.PodSandboxId, "pod_sandbox_id");
        await engine.RemoveSandboxAsync(request.PodSandboxId, context.CancellationToken);
        return new RemovePodSandboxResponse();
    }

    public override Task<PodSandboxStatusResponse> PodSandboxStatus(PodSandboxStatusRequest request, ServerCallContext context)
    {
        RequireId(request.PodSandboxId, "pod_sandbox_id");
        SandboxInfo info = engine.GetSandbox(request.PodSandboxId);
        var response = new PodSandboxStatusResponse { Status = CriMapping.ToPodSandboxStatus(info) };
        if (request.Verbose)
            response.Info["info"] = JsonSerializer.Serialize(new { pid = info.Record.InfraPid, cgroup = info.Record.CgroupPath });
        return Task.FromResult(response);
    }

    public override Task<ListPodSandboxResponse> ListPodSandbox(ListPodSandboxRequest request, ServerCallContext context)
    {
        PodSandboxFilter? filter = request.Filter;
        IEnumerable<SandboxInfo> pods = engine.ListSandboxes();
        if (filter is not null)
        {
            if (filter.Id.Length > 0) pods = pods.Where(p => p.Record.Id.StartsWith(filter.Id, StringComparison.Ordinal));
            if (filter.State is { } state) pods = pods.Where(p => CriMapping.State(p) == state.State);
            pods = pods.Where(p => CriMapping.Matches(p.Record.Spec.Labels, filter.LabelSelector));
        }
        var response = new ListPodSandboxResponse();
        response.Items.Add(pods.OrderBy(p => p.Record.CreatedAtNs).Select(CriMapping.ToPodSandbox));
        return Task.FromResult(response);
    }

    public override async Task<CreateContainerResponse> CreateContainer(CreateContainerRequest request, ServerCallContext context)
    {
        RequireId(request.PodSandboxId, "pod_sandbox_id");
        string id = await engine.CreateContainerAsync(request.PodSandboxId, CriMapping.ToContainerSpec(request), context.CancellationToken);
        return new CreateContainerResponse { ContainerId = id };
    }

    public override async Task<StartContainerResponse> StartContainer(StartContainerRequest request, ServerCallContext context)
    {
        RequireId(request.ContainerId, "container_id");
        await engine.StartContainerAsync(request.ContainerId, context.CancellationToken);
        return new StartContainerResponse();
    }

    public override async Task<StopContainerResponse> StopContainer(StopContainerRequest request, ServerCallContext context)
    {
        RequireId(request.ContainerId, "container_id");
        if (request.Timeout < 0) throw CriMapping.Invalid("timeout", "must not be negative");
        await engine.StopContainerAsync(request.ContainerId, request.Timeout, context.CancellationToken);
        return new StopContainerResponse();
    }

    public override async Task<RemoveContainerResponse> RemoveContainer(RemoveContainerRequest request, ServerCallContext context)
    {
        RequireId(request.ContainerId, "container_id");
        await engine.RemoveContainerAsync(request.ContainerId, context.CancellationToken);
        return new RemoveContainerResponse();
    }

    public override Task<ListContainersResponse> ListContainers(ListContainersRequest request, ServerCallContext context)
    {
        ContainerFilter? filter = request.Filter;
        IEnumerable<ContainerInfo> containers = engine.ListContainers();
        if (filter is not null)
        {
            if (filter.Id.Length > 0) containers = containers.Where(c => c.Record.Id.StartsWith(filter.Id, StringComparison.Ordinal));
            if (filter.PodSandboxId.Length > 0)
                containers = containers.Where(c => c.Record.PodId.StartsWith(filter.PodSandboxId, StringComparison.Ordinal));
            if (filter.State is { } state) containers = containers.Where(c => CriMapping.State(c) == state.State);
            containers = containers.Where(c => CriMapping.Matches(c.Record.Spec.Labels, filter.LabelSelector));
        }
        var response = new ListContainersResponse();
        response.Containers.Add(containers.OrderBy(c => c.Record.CreatedAtNs).Select(CriMapping.ToContainer));
        return Task.FromResult(response);
    }

    public override Task<ContainerStatusResponse> ContainerStatus(ContainerStatusRequest request, ServerCallContext context)
    {
        RequireId(request.ContainerId, "container_id");
        ContainerInfo info = engine.GetContainer(request.ContainerId);
        var response = new ContainerStatusResponse { Status = CriMapping.ToContainerStatus(info) };
        if (request.Verbose)
            response.Info["info"] = JsonSerializer.Serialize(new
            {
                pid = info.Record.Pid, monitorPid = info.Record.MonitorPid, cgroup = info.Record.CgroupPath,
            });
        return Task.FromResult(response);
    }

    public override async Task<ReopenContainerLogResponse> ReopenContainerLog(ReopenContainerLogRequest request, ServerCallContext context)
    {
        RequireId(request.ContainerId, "container_id");
        await engine.ReopenLogAsync(request.ContainerId, context.CancellationToken);
        return new ReopenContainerLogResponse();
    }

    private static void RequireId(string id, string field)
    {
        if (id.Length == 0) throw CriMapping.Invalid(field, "is required");
    }
}
