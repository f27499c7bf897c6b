using System.Diagnostics;
using Grpc.Core;
using JailShim.Cri.V1;

namespace JailShim.Conformance;

/// <summary>Every RPC is a span continuing the caller's trace; every syscall phase a child span.</summary>
[Collection(DaemonCollection.Name)]
public sealed class TraceTests(DaemonFixture fixture)
{
    private readonly Daemon _daemon = fixture.Daemon;

    private static (Metadata Headers, string TraceId, string ParentId) Traceparent()
    {
        var traceId = ActivityTraceId.CreateRandom().ToHexString();
        var parentId = ActivitySpanId.CreateRandom().ToHexString();
        return (new Metadata { { "traceparent", $"00-{traceId}-{parentId}-01" } }, traceId, parentId);
    }

    private async Task<(Span Rpc, List<Span> Children)> RpcSpanAsync(string traceId, string method)
    {
        for (int attempt = 0; ; attempt++)
        {
            List<Span> spans = await Span.ReadAsync(_daemon.TraceFile);
            Span? rpc = spans.FirstOrDefault(s => s.TraceId == traceId && s.Name.EndsWith(method, StringComparison.Ordinal));
            if (rpc is not null)
                return (rpc, spans.Where(s => s.ParentSpanId == rpc.SpanId).ToList());
            if (attempt > 50) throw new Xunit.Sdk.XunitException($"no {method} span in trace {traceId}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task RpcSpansContinueTheCallersTraceWithPhaseChildren()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "traced");
        var run = Traceparent();
        string podId = (await _daemon.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = pod }, run.Headers)).PodSandboxId;
        var create = Traceparent();
        string id = (await _daemon.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = podId, Config = Cri.ContainerConfig("traced", "/bin/true"), SandboxConfig = pod,
        }, create.Headers)).ContainerId;
        var start = Traceparent();
        await _daemon.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id }, start.Headers);

        var (runSpan, runChildren) = await RpcSpanAsync(run.TraceId, "RunPodSandbox");
        Assert.Equal(run.ParentId, runSpan.ParentSpanId);
        Assert.Equal("JailShim.Rpc", runSpan.Source);
        var runPhases = runChildren.Select(s => s.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "cgroup.create", "clone", "sethostname", "lo_up", "mount" }, runPhases);
        Assert.All(runChildren, s => Assert.Equal(podId, s.Attributes.GetValueOrDefault("jailshim.pod_id")));

        var (createSpan, createChildren) = await RpcSpanAsync(create.TraceId, "CreateContainer");
        Assert.Equal(create.ParentId, createSpan.ParentSpanId);
        var createPhases = createChildren.Select(s => s.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "cgroup.create", "clone", "setns", "cgroup.attach", "mount", "pivot_root" }, createPhases);
        Assert.Contains(createChildren, s => s.Name == "mount" && s.Attributes.GetValueOrDefault("jailshim.target")?.EndsWith("/proc") == true);
        Assert.All(createChildren, s => Assert.Equal(id, s.Attributes.GetValueOrDefault("jailshim.container_id")));

        var (_, startChildren) = await RpcSpanAsync(start.TraceId, "StartContainer");
        Assert.Contains(startChildren, s => s.Name == "exec");

        var remove = Traceparent();
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId }, remove.Headers);
        var (_, removeChildren) = await RpcSpanAsync(remove.TraceId, "RemovePodSandbox");
        var removePhases = removeChildren.Select(s => s.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "kill", "umount", "cgroup.remove" }, removePhases);
    }

    [Fact]
    public async Task FailedRpcSpanCarriesTheErrorAndErrno()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "traced-failure");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        ContainerConfig config = Cri.ContainerConfig("fails", "/bin/true");
        config.Mounts.Add(new Mount { HostPath = _daemon.Dir, ContainerPath = "/proc/no-such-dir/x" });
        var call = Traceparent();
        await Assert.ThrowsAsync<RpcException>(() => _daemon.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = podId, Config = config, SandboxConfig = pod,
        }, call.Headers).ResponseAsync);

        var (rpc, children) = await RpcSpanAsync(call.TraceId, "CreateContainer");
        Assert.Equal("Error", rpc.Status);
        Assert.Contains(children, s => s.Status == "Error" && s.Attributes.ContainsKey("error.errno"));
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
    }
}
