using System.Text.Json.Nodes;
using JailShim.Cri.V1;
using static JailShim.Conformance.LayerEntry;

namespace JailShim.Conformance;

/// <summary>
/// `jailshim image import` of OCI layouts and docker save archives built here (the base image's
/// layer plus a marker layer), run while the daemon serves; the result runs in a container.
/// Also ImageFsInfo, ListImages filters and --import-dir.
/// </summary>
[Collection(DaemonCollection.Name)]
public sealed class ImageImportTests(DaemonFixture fixture)
{
    private readonly Daemon _daemon = fixture.Daemon;

    private string NewDir(string what) => Directory.CreateDirectory(Path.Combine(_daemon.Dir, $"{what}-{Guid.NewGuid():N}")).FullName;

    [Fact]
    public async Task ImportedOciLayoutRunsInAContainer()
    {
        TestLayer baseLayer = await ImageCli.BaseLayerAsync(_daemon);
        string marker = "oci-" + Guid.NewGuid().ToString("N");
        var layout = new ImagePullImages(NewDir("layout"));
        var (manifestDigest, configDigest, _) = layout.AddImage("v1", [baseLayer, TestLayer.Gzip(File("marker", marker))],
            cmd: ["/bin/sh", "-c", "cat /marker"]);

        string name = $"import.test/oci-{marker[4..16]}";
        string id = await ImageCli.ImportOkAsync(_daemon, layout.Dir, name);

        Assert.Equal(configDigest, id);
        Image image = await StatusAsync($"{name}:v1"); // the layout's tag on NAME's repository
        Assert.Equal(id, image.Id);
        Assert.Equal([$"{name}:v1"], image.RepoTags);
        Assert.Equal([$"{name}@{manifestDigest}"], image.RepoDigests);
        Assert.Equal(marker, await RunAsync($"{name}:v1"));
    }

    [Fact]
    public async Task ImportedDockerArchiveRunsAsItsUser()
    {
        TestLayer baseLayer = await ImageCli.BaseLayerAsync(_daemon);
        string marker = "docker-" + Guid.NewGuid().ToString("N");
        string archive = Path.Combine(NewDir("archive"), "saved.tar");
        string tag = $"import.test/docker-{marker[7..19]}:1";
        string configDigest = DockerSaveArchive.Write(archive, [baseLayer, TestLayer.Gzip(File("marker", marker))], [tag],
            ["/bin/sh", "-c", "cat /marker; echo; id -u"], user: "4321");

        Assert.Equal(configDigest, await ImageCli.ImportOkAsync(_daemon, archive));

        Image image = await StatusAsync(tag);
        Assert.Equal(configDigest, image.Id);
        Assert.Equal(4321, image.Uid.Value);
        Assert.Equal("", image.Username);
        Assert.Equal(marker + "\n4321", await RunAsync(tag));
    }

    [Fact]
    public async Task ArchivesMadeBySkopeoImportAndRun()
    {
        if (!System.IO.File.Exists("/usr/bin/skopeo")) return; // Debian's skopeo: what people make archives with
        TestLayer baseLayer = await ImageCli.BaseLayerAsync(_daemon);
        string marker = "skopeo-" + Guid.NewGuid().ToString("N");
        var layout = new ImagePullImages(NewDir("layout"));
        var (_, configDigest, _) = layout.AddImage("v1", [baseLayer, TestLayer.Gzip(File("marker", marker))], cmd: ["/bin/cat", "/marker"]);
        string dir = NewDir("skopeo");
        string name = $"import.test/skopeo-{marker[7..19]}";
        // docker-archive: manifest.json, <hex>.tar layers, legacy <id>/layer.tar symlinks; oci-archive: a tarred layout.
        await Registry.RunAsync("/usr/bin/skopeo", "copy", $"oci:{layout.Dir}:v1", $"docker-archive:{dir}/docker.tar:{name}:docker");
        await Registry.RunAsync("/usr/bin/skopeo", "copy", $"oci:{layout.Dir}:v1", $"oci-archive:{dir}/oci.tar:{name}:oci");

        Assert.Equal(configDigest, await ImageCli.ImportOkAsync(_daemon, $"{dir}/docker.tar"));
        Assert.Equal(configDigest, await ImageCli.ImportOkAsync(_daemon, $"{dir}/oci.tar"));
        Image image = await StatusAsync(configDigest);
        Assert.Equal([$"{name}:docker", $"{name}:oci"], image.RepoTags.Order());
        Assert.Equal(marker, await RunAsync($"{name}:oci"));
    }

    [Fact]
    public async Task ImageStatusReportsUserNamesAndTheConfig()
    {
        string archive = Path.Combine(NewDir("archive"), "saved.tar");
        string tag = $"import.test/user-{Guid.NewGuid():N}:1";
        DockerSaveArchive.Write(archive, [TestLayer.Gzip(File("x", "x"))], [tag], ["/x"], user: "www-data:www-data");
        await ImageCli.ImportOkAsync(_daemon, archive);

        var status = await _daemon.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = tag }, Verbose = true });
        Assert.Equal("www-data", status.Image.Username);
        Assert.Null(status.Image.Uid);
        JsonNode info = JsonNode.Parse(status.Info["info"])!;
        Assert.Equal("www-data:www-data", info["imageSpec"]!["config"]!["User"]!.GetValue<string>());
        Assert.Equal("/x", info["imageSpec"]!["config"]!["Cmd"]![0]!.GetValue<string>());
    }

    [Fact]
    public async Task ImportWithABadDigestFailsAndAddsNothing()
    {
        var layout = new ImagePullImages(NewDir("layout"));
        TestLayer layer = TestLayer.Tar(ImagePullImages.Tar(File("marker", "tampered?")));
        layout.AddImage("v1", [layer]);
        string blob = Path.Combine(layout.Dir, "blobs", "sha256", layer.Digest[7..]);
        byte[] bytes = await System.IO.File.ReadAllBytesAsync(blob);
        bytes[^1100] ^= 1; // inside the file's content block
        await System.IO.File.WriteAllBytesAsync(blob, bytes);

        int before = (await _daemon.Images.ListImagesAsync(new ListImagesRequest())).Images.Count;
        var (code, _, stderr) = await ImageCli.ImportAsync(_daemon, layout.Dir, "import.test/bad");
        Assert.Equal(1, code);
        Assert.Contains("digest mismatch", stderr);
        Assert.Equal(before, (await _daemon.Images.ListImagesAsync(new ListImagesRequest())).Images.Count);
        Assert.False(Directory.Exists(ImageCli.LayerDir(_daemon, layer.DiffId)));
    }

    [Fact]
    public async Task ImageFsInfoGrowsWithAnImport()
    {
        ImageFsInfoResponse before = await _daemon.Images.ImageFsInfoAsync(new ImageFsInfoRequest());
        FilesystemUsage images = Assert.Single(before.ImageFilesystems);
        Assert.Equal(Path.Combine(_daemon.Root, "images"), images.FsId.Mountpoint);
        Assert.InRange(images.Timestamp, DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds() * 1_000_000, long.MaxValue);
        Assert.True(images.UsedBytes.Value > 1 << 20, "the base image alone is more than 1 MiB");
        FilesystemUsage containers = Assert.Single(before.ContainerFilesystems);
        Assert.Equal(Path.Combine(_daemon.Root, "containers"), containers.FsId.Mountpoint);
        Assert.True(containers.InodesUsed.Value >= 1);

        var layout = new ImagePullImages(NewDir("layout"));
        layout.AddImage("v1", [TestLayer.Gzip(ImagePullImages.RandomTar("payload.bin", 2 << 20)),
            TestLayer.Gzip(Dir("many"), File("many/a", "a"), File("many/b", "b"), File("many/c", "c"))]);
        await ImageCli.ImportOkAsync(_daemon, layout.Dir, $"import.test/fs-{Guid.NewGuid():N}");

        FilesystemUsage after = Assert.Single((await _daemon.Images.ImageFsInfoAsync(new ImageFsInfoRequest())).ImageFilesystems);
        Assert.True(after.UsedBytes.Value >= images.UsedBytes.Value + (2 << 20), $"{images.UsedBytes.Value} -> {after.UsedBytes.Value}");
        Assert.True(after.InodesUsed.Value >= images.InodesUsed.Value + 6, $"{images.InodesUsed.Value} -> {after.InodesUsed.Value}");
        Assert.True(after.Timestamp >= images.Timestamp);
    }

    [Fact]
    public async Task ListImagesFiltersByTagIdAndDigest()
    {
        var layout = new ImagePullImages(NewDir("layout"));
        var (manifestDigest, configDigest, _) = layout.AddImage("v1", [TestLayer.Gzip(File("f", Guid.NewGuid().ToString()))]);
        string name = $"import.test/list-{Guid.NewGuid():N}";
        await ImageCli.ImportOkAsync(_daemon, layout.Dir, name);

        foreach (string filter in new[] { $"{name}:v1", configDigest, configDigest[7..19], $"{name}@{manifestDigest}" })
        {
            var listed = await _daemon.Images.ListImagesAsync(new ListImagesRequest { Filter = new ImageFilter { Image = new ImageSpec { Image = filter } } });
            Assert.True(listed.Images.Count == 1 && listed.Images[0].Id == configDigest, $"filter {filter}");
        }
        var none = await _daemon.Images.ListImagesAsync(new ListImagesRequest { Filter = new ImageFilter { Image = new ImageSpec { Image = $"{name}:v2" } } });
        Assert.Empty(none.Images);
        var all = await _daemon.Images.ListImagesAsync(new ListImagesRequest());
        Assert.Contains(all.Images, i => i.Id == configDigest);
        Assert.Contains(all.Images, i => i.RepoTags.Contains(Cri.BaseImage));
    }

    [Fact]
    public async Task ImportDirIsImportedAtStartAndSkippedOnRestart()
    {
        TestLayer baseLayer = await ImageCli.BaseLayerAsync(_daemon);
        string dir = NewDir("import-dir");
        string marker = Guid.NewGuid().ToString("N");
        string archiveTag = $"import.test/dir-archive:{marker[..8]}";
        string archiveId = DockerSaveArchive.Write(Path.Combine(dir, "a.tar"), [baseLayer, TestLayer.Gzip(File("marker", marker))],
            [archiveTag], ["/bin/sh", "-c", "cat /marker"]);
        var layout = new ImagePullImages(Path.Combine(dir, "b-layout"));
        var (_, layoutId, _) = layout.AddImage("import.test/dir-layout:1", [TestLayer.Gzip(File("marker", "layout"))]);
        await System.IO.File.WriteAllTextAsync(Path.Combine(dir, "c-broken.tar"), "not a tar");
        await System.IO.File.WriteAllTextAsync(Path.Combine(dir, "notes.txt"), "ignored");

        Daemon second = await Daemon.StartAsync(extraArgs: ["--import-dir", dir]);
        string secondDir = second.Dir;
        try
        {
            Assert.Equal(archiveId, (await second.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = archiveTag } })).Image?.Id);
            Assert.Equal(layoutId, (await second.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = "import.test/dir-layout:1" } })).Image?.Id);
            Assert.Contains("c-broken.tar not imported", second.Output);

            // Removed by a user, an image stays removed only until the next start: the directory is what should be there.
            await second.Images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = "import.test/dir-layout:1" } });
            await second.StopAsync();
            second = await Daemon.StartAsync(reuseDir: secondDir, extraArgs: ["--import-dir", dir]);
            Assert.NotNull((await second.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = "import.test/dir-layout:1" } })).Image);
            Assert.Equal(archiveId, (await second.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = archiveTag } })).Image?.Id);
        }
        finally
        {
            await second.DisposeAsync();
        }
    }

    private async Task<Image> StatusAsync(string image) =>
        (await _daemon.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } })).Image
        ?? throw new Xunit.Sdk.XunitException($"image {image} is not there");

    /// <summary>Runs the image's own command in a fresh pod and returns its stdout.</summary>
    private async Task<string> RunAsync(string image)
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "import-run");
        string podId = await Cri.RunPodAsync(_daemon, pod);
        try
        {
            ContainerConfig config = Cri.ContainerConfig("main");
            config.Image = new ImageSpec { Image = image };
            string id = await Cri.CreateAsync(_daemon, podId, pod, config);
            await _daemon.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
            return (await Cri.StdoutAsync(_daemon, id)).TrimEnd('\n');
        }
        finally
        {
            await _daemon.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
        }
    }
}
