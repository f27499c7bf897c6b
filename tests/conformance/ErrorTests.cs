using Grpc.Core;
using JailShim.Cri.V1;

namespace JailShim.Conformance;

/// <summary>Bad requests get the CRI's status codes with a message naming the problem.</summary>
[Collection(DaemonCollection.Name)]
public sealed class ErrorTests(DaemonFixture fixture)
{
    private readonly Daemon _daemon = fixture.Daemon;
    private const string UnknownId = "0000000000000000000000000000000000000000000000000000000000000000";

    [Fact]
    public async Task MissingFieldsAreInvalidArgumentNamingTheField()
    {
        var noMetadata = await Cri.FailsAsync(() => _daemon.Runtime.RunPodSandboxAsync(
            new RunPodSandboxRequest { Config = new PodSandboxConfig() }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, noMetadata.StatusCode);
        Assert.Contains("metadata", noMetadata.Status.Detail);

        PodSandboxConfig noName = Cri.PodConfig(_daemon, "x");
        noName.Metadata.Name = "";
        var emptyName = await Cri.FailsAsync(() => _daemon.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = noName }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, emptyName.StatusCode);
        Assert.Contains("metadata.name", emptyName.Status.Detail);

        PodSandboxConfig pod = Cri.PodConfig(_daemon, "errors-fields");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        var noImage = await Cri.FailsAsync(() => Cri.CreateAsync(_daemon, podId, pod,
            new ContainerConfig { Metadata = new ContainerMetadata { Name = "c" } }));
        Assert.Equal(StatusCode.InvalidArgument, noImage.StatusCode);
        Assert.Contains("image", noImage.Status.Detail);

        var noId = await Cri.FailsAsync(() => _daemon.Runtime.StartContainerAsync(new StartContainerRequest()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, noId.StatusCode);
        Assert.Contains("container_id", noId.Status.Detail);

        var badLogDir = Cri.PodConfig(_daemon, "relative-logs");
        badLogDir.LogDirectory = "relative/dir";
        var relative = await Cri.FailsAsync(() => _daemon.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = badLogDir }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, relative.StatusCode);
        Assert.Contains("log_directory", relative.Status.Detail);
    }

    [Fact]
    public async Task NameReuseIsAlreadyExists()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "errors-dup");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        var again = await Cri.FailsAsync(() => _daemon.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = pod }).ResponseAsync);
        Assert.Equal(StatusCode.AlreadyExists, again.StatusCode);
        Assert.Contains(podId, again.Status.Detail);

        await Cri.CreateAsync(_daemon, podId, pod, Cri.ContainerConfig("same", "/bin/true"));
        var twice = await Cri.FailsAsync(() => Cri.CreateAsync(_daemon, podId, pod, Cri.ContainerConfig("same", "/bin/true")));
        Assert.Equal(StatusCode.AlreadyExists, twice.StatusCode);

        // A new attempt of the same name is a different container.
        ContainerConfig retry = Cri.ContainerConfig("same", "/bin/true");
        retry.Metadata.Attempt = 1;
        await Cri.CreateAsync(_daemon, podId, pod, retry);
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });

        // Once removed, the name is free again.
        string again2 = await Cri.RunPodAsync(_daemon, pod);
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = again2 });
    }

    [Fact]
    public async Task UnknownIdsAreNotFoundExceptStopAndRemove()
    {
        Assert.Equal(StatusCode.NotFound, (await Cri.FailsAsync(() =>
            _daemon.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = UnknownId }).ResponseAsync)).StatusCode);
        Assert.Equal(StatusCode.NotFound, (await Cri.FailsAsync(() =>
            _daemon.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = UnknownId }).ResponseAsync)).StatusCode);
        Assert.Equal(StatusCode.NotFound, (await Cri.FailsAsync(() =>
            _daemon.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = UnknownId }).ResponseAsync)).StatusCode);
        var noPod = await Cri.FailsAsync(() => Cri.CreateAsync(_daemon, UnknownId, Cri.PodConfig(_daemon, "p"), Cri.ContainerConfig("c", "/bin/true")));
        Assert.Equal(StatusCode.NotFound, noPod.StatusCode);

        await _daemon.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = UnknownId });
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = UnknownId });
        await _daemon.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = UnknownId });
        await _daemon.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = UnknownId });
    }

    [Fact]
    public async Task StopAndRemoveAreIdempotent()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "idempotence");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        string id = await Cri.RunAsync(_daemon, podId, pod, "c", "sleep 30");
        await _daemon.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = id, Timeout = 0 });
        await _daemon.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = id, Timeout = 0 });
        await _daemon.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = id });
        await _daemon.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = id });
        await _daemon.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId });
        await _daemon.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId });
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
        await _daemon.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = Guid.NewGuid().ToString() });
    }

    [Fact]
    public async Task UnknownImageIsNotFoundOnCreateAndEmptyOnStatus()
    {
        var status = await _daemon.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = "no.such/image:1" } });
        Assert.Null(status.Image);

        PodSandboxConfig pod = Cri.PodConfig(_daemon, "errors-image");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        ContainerConfig config = Cri.ContainerConfig("c", "/bin/true");
        config.Image.Image = "no.such/image:1";
        var missing = await Cri.FailsAsync(() => Cri.CreateAsync(_daemon, podId, pod, config));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        Assert.Contains("no.such/image:1", missing.Status.Detail);
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
    }

    [Fact]
    public async Task WrongStateIsFailedPrecondition()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "errors-state");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        string id = await Cri.RunAsync(_daemon, podId, pod, "c", "sleep 30");
        var startedTwice = await Cri.FailsAsync(() => _daemon.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id }).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, startedTwice.StatusCode);

        await _daemon.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId });
        var intoStopped = await Cri.FailsAsync(() => Cri.CreateAsync(_daemon, podId, pod, Cri.ContainerConfig("late", "/bin/true")));
        Assert.Equal(StatusCode.FailedPrecondition, intoStopped.StatusCode);
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
    }

    [Fact]
    public async Task PathsThatEscapeAreRefused()
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "errors-escape");
        string podId = await Cri.RunPodAsync(_daemon, pod);

        ContainerConfig logEscape = Cri.ContainerConfig("log-escape", "/bin/true");
        logEscape.LogPath = "../../../../etc/evil.log";
        var log = await Cri.FailsAsync(() => Cri.CreateAsync(_daemon, podId, pod, logEscape));
        Assert.Equal(StatusCode.InvalidArgument, log.StatusCode);
        Assert.Contains("log_path", log.Status.Detail);

        ContainerConfig absoluteLog = Cri.ContainerConfig("log-absolute", "/bin/true");
        absoluteLog.LogPath = "/etc/evil.log";
        Assert.Equal(StatusCode.InvalidArgument, (await Cri.FailsAsync(() => Cri.CreateAsync(_daemon, podId, pod, absoluteLog))).StatusCode);

        ContainerConfig mountEscape = Cri.ContainerConfig("mount-escape", "/bin/true");
        mountEscape.Mounts.Add(new Mount { HostPath = _daemon.Dir + "/../../etc", ContainerPath = "/host" });
        var mount = await Cri.FailsAsync(() => Cri.CreateAsync(_daemon, podId, pod, mountEscape));
        Assert.Equal(StatusCode.InvalidArgument, mount.StatusCode);
        Assert.Contains("host_path", mount.Status.Detail);

        Assert.False(File.Exists("/etc/evil.log"));
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
    }

    [Fact]
    public async Task UnimplementedRpcsSaySo()
    {
        var exec = await Cri.FailsAsync(() => _daemon.Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = UnknownId }).ResponseAsync);
        Assert.Equal(StatusCode.Unimplemented, exec.StatusCode);
    }
}
