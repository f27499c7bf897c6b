using JailShim.Cri.V1;
using static JailShim.Conformance.LayerEntry;

namespace JailShim.Conformance;

/// <summary>RemoveImage: by tag, id and digest; idempotent; and a layer outlives its image while a container uses it.</summary>
[Collection(DaemonCollection.Name)]
public sealed class ImageRemoveTests(DaemonFixture fixture)
{
    private readonly Daemon _daemon = fixture.Daemon;

    private string NewDir(string what) => Directory.CreateDirectory(Path.Combine(_daemon.Dir, $"{what}-{Guid.NewGuid():N}")).FullName;

    [Fact]
    public async Task RemovingAnUnknownImageSucceeds()
    {
        foreach (string image in new[] { "import.test/never:1", "sha256:" + new string('a', 64), "busybox" })
            await _daemon.Images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = image } });
        Assert.NotNull(await StatusAsync(Cri.BaseImage));
    }

    [Fact]
    public async Task RemovingAnEmptyNameIsInvalid()
    {
        var e = await Cri.FailsAsync(() => _daemon.Images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec() }).ResponseAsync);
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, e.StatusCode);
    }

    [Fact]
    public async Task RemovingOneTagKeepsTheOthers_TheLastTakesTheImageAndItsLayer()
    {
        var layout = new ImagePullImages(NewDir("layout"));
        TestLayer layer = TestLayer.Gzip(File("unique", Guid.NewGuid().ToString()));
        var (_, id, _) = layout.AddImage("v1", [layer]);
        string name = $"import.test/tags-{Guid.NewGuid():N}";
        await ImageCli.ImportOkAsync(_daemon, layout.Dir, name);
        await ImageCli.ImportOkAsync(_daemon, layout.Dir, name + ":v2");
        Assert.Equal([$"{name}:v1", $"{name}:v2"], (await StatusAsync(id))!.RepoTags.Order());

        await RemoveAsync($"{name}:v1");
        Image left = (await StatusAsync(id))!;
        Assert.Equal([$"{name}:v2"], left.RepoTags);
        Assert.Null(await StatusAsync($"{name}:v1"));
        Assert.True(Directory.Exists(ImageCli.LayerDir(_daemon, layer.DiffId)));

        await RemoveAsync($"{name}:v2");
        Assert.Null(await StatusAsync(id));
        Assert.False(Directory.Exists(ImageCli.LayerDir(_daemon, layer.DiffId)), "no image and no container uses the layer");
    }

    [Fact]
    public async Task RemovingByIdOrDigestRemovesTheImage()
    {
        var layout = new ImagePullImages(NewDir("layout"));
        var (manifestDigest, id, _) = layout.AddImage("v1", [TestLayer.Gzip(File("a", Guid.NewGuid().ToString()))]);
        string name = $"import.test/byid-{Guid.NewGuid():N}";
        await ImageCli.ImportOkAsync(_daemon, layout.Dir, name);
        await ImageCli.ImportOkAsync(_daemon, layout.Dir, name + ":v2");
        await RemoveAsync(id);
        Assert.Null(await StatusAsync(id));
        Assert.Null(await StatusAsync($"{name}:v2"));

        await ImageCli.ImportOkAsync(_daemon, layout.Dir, name);
        await RemoveAsync($"{name}@{manifestDigest}");
        Assert.Null(await StatusAsync(id));
    }

    [Fact]
    public async Task RemovingAnImageInUseKeepsItsLayerUntilTheLastContainerGoes()
    {
        TestLayer baseLayer = await ImageCli.BaseLayerAsync(_daemon);
        string marker = Guid.NewGuid().ToString("N");
        TestLayer markerLayer = TestLayer.Gzip(File("marker", marker));
        var layout = new ImagePullImages(NewDir("layout"));
        var (_, id, _) = layout.AddImage("v1", [baseLayer, markerLayer]);
        string name = $"import.test/inuse-{marker[..12]}:v1";
        await ImageCli.ImportOkAsync(_daemon, layout.Dir, name);
        string layerDir = ImageCli.LayerDir(_daemon, markerLayer.DiffId);

        // The container waits for a file from the host, then reads its image's layer.
        string signals = NewDir("signals");
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "remove-inuse");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        ContainerConfig config = Cri.ContainerConfig("reader", "/bin/sh", "-c",
            "while [ ! -e /signals/go ]; do sleep 0.05; done; cat /marker; ls /bin/sh");
        config.Image = new ImageSpec { Image = name };
        config.Mounts.Add(new Mount { HostPath = signals, ContainerPath = "/signals" });
        string ctr = await Cri.CreateAsync(_daemon, podId, pod, config);
        await _daemon.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = ctr });

        await RemoveAsync(id);
        Assert.Null(await StatusAsync(id));
        Assert.DoesNotContain((await _daemon.Images.ListImagesAsync(new ListImagesRequest())).Images, i => i.Id == id);
        Assert.True(Directory.Exists(layerDir), "a running container's layer stays");
        Assert.Equal(ContainerState.ContainerRunning, (await Cri.StatusAsync(_daemon, ctr)).State);

        await System.IO.File.WriteAllTextAsync(Path.Combine(signals, "go"), "");
        Assert.Equal($"{marker}/bin/sh\n", await Cri.StdoutAsync(_daemon, ctr));
        Assert.True(Directory.Exists(layerDir), "an exited container's layer stays until it is removed");

        // A new container from the removed image is refused; the old one still has what it needs.
        ContainerConfig again = Cri.ContainerConfig("again", "/bin/true");
        again.Image = new ImageSpec { Image = name };
        var e = await Cri.FailsAsync(() => _daemon.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = podId, Config = again, SandboxConfig = pod,
        }).ResponseAsync);
        Assert.Equal(Grpc.Core.StatusCode.NotFound, e.StatusCode);

        await _daemon.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = ctr });
        Assert.False(Directory.Exists(layerDir), "the last user is gone, so is the layer");
        Assert.True(Directory.Exists(ImageCli.LayerDir(_daemon, baseLayer.DiffId)), "the base image still uses its layer");
        await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
    }

    private Task RemoveAsync(string image) =>
        _daemon.Images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = image } }).ResponseAsync;

    private async Task<Image?> StatusAsync(string image) =>
        (await _daemon.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } })).Image;
}
