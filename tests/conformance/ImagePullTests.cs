using System.Text;
using System.Text.Json.Nodes;
using Grpc.Core;
using JailShim.Cri.V1;
using static JailShim.Conformance.LayerEntry;

namespace JailShim.Conformance;

/// <summary>PullImage against real registries: tags, digests, lists, auth, mirrors, sharing, and the result run in a container.</summary>
[Collection(ImagePullCollection.Name)]
public sealed class ImagePullTests(ImagePullFixture fixture)
{
    private readonly Daemon _daemon = fixture.Daemon;
    private readonly Registry _registry = fixture.Plain;

    [Fact]
    public async Task PullByTagRunsWithWhiteoutsAndOpaqueDirs()
    {
        ImagePullImages layout = fixture.NewLayout();
        TestLayer lower = TestLayer.Gzip(Dir("data"), File("data/keep", "kept content"), File("data/gone", "must be hidden"),
            Dir("opq"), File("opq/old1", "old"), File("opq/old2", "old"));
        TestLayer upper = TestLayer.Gzip(Dir("data"), Whiteout("data", "gone"), Dir("opq"), Opaque("opq"), File("opq/new", "new"));
        var (_, configDigest, _) = layout.AddImage("1", [fixture.BaseLayer, lower, upper]);
        string pushed = await _registry.PushAsync(layout.Dir, "1", "layers", "1");

        string imageRef = await PullAsync($"{_registry.Host}/layers:1");

        Assert.Equal(configDigest, imageRef);
        Image image = await StatusAsync(imageRef);
        Assert.Equal(imageRef, image.Id);
        Assert.Contains($"{_registry.Host}/layers:1", image.RepoTags);
        Assert.Contains($"{_registry.Host}/layers@{pushed}", image.RepoDigests);
        // The bottom layer is the base image's: already unpacked, so never downloaded.
        Assert.Equal(0, _registry.Gets($"/v2/layers/blobs/{fixture.BaseLayer.Digest}"));

        string stdout = await RunAsync(imageRef, "ls -A /data; echo ---; ls -A /opq; echo ---; cat /data/keep");
        Assert.Equal("keep\n---\nnew\n---\nkept content", stdout);
    }

    [Fact]
    public async Task PullByDigestRecordsTheDigestAndNoTag()
    {
        ImagePullImages layout = fixture.NewLayout();
        var (_, configDigest, _) = layout.AddImage("v1", [fixture.BaseLayer, TestLayer.Gzip(File("hello", "by digest"))]);
        string pushed = await _registry.PushAsync(layout.Dir, "v1", "bydigest", "v1");

        string imageRef = await PullAsync($"{_registry.Host}/bydigest@{pushed}");
        Assert.Equal(configDigest, imageRef);
        Image image = await StatusAsync($"{_registry.Host}/bydigest@{pushed}");
        Assert.Empty(image.RepoTags);
        Assert.Equal([$"{_registry.Host}/bydigest@{pushed}"], image.RepoDigests);

        // The same image by tag: the tag is added, nothing else changes.
        Assert.Equal(imageRef, await PullAsync($"{_registry.Host}/bydigest:v1"));
        image = await StatusAsync(imageRef);
        Assert.Equal([$"{_registry.Host}/bydigest:v1"], image.RepoTags);
        Assert.Equal([$"{_registry.Host}/bydigest@{pushed}"], image.RepoDigests);
        Assert.Equal("by digest", await RunAsync(imageRef, "cat /hello"));
    }

    [Fact]
    public async Task ManifestListPicksTheHostPlatform()
    {
        ImagePullImages layout = fixture.NewLayout();
        var amd64 = layout.AddImage(null, [fixture.BaseLayer, TestLayer.Gzip(File("arch", "amd64"))], architecture: "amd64");
        var arm64 = layout.AddImage(null, [TestLayer.Gzip(File("arch", "arm64"))], architecture: "arm64");
        layout.AddIndex("multi", [(arm64.ManifestDigest, arm64.ManifestSize, "arm64"), (amd64.ManifestDigest, amd64.ManifestSize, "amd64")]);
        string pushed = await _registry.PushAsync(layout.Dir, "multi", "multiarch", "multi", all: true);

        string imageRef = await PullAsync($"{_registry.Host}/multiarch:multi");

        Assert.Equal(amd64.ConfigDigest, imageRef);
        Image image = await StatusAsync(imageRef);
        Assert.Contains($"{_registry.Host}/multiarch@{pushed}", image.RepoDigests); // the list's digest, as docker and containerd report
        Assert.Equal("amd64", await RunAsync(imageRef, "cat /arch"));
        Assert.Equal(0, _registry.Gets($"/v2/multiarch/manifests/{arm64.ManifestDigest}"));
    }

    [Fact]
    public async Task DockerSchema2AndZstdLayersArePulled()
    {
        ImagePullImages layout = fixture.NewLayout();
        layout.AddImage("1", [fixture.BaseLayer, TestLayer.Gzip(File("kind", "docker-v2s2"))]);
        await _registry.PushAsync(layout.Dir, "1", "dockerv2", "1", format: "v2s2");
        Assert.Contains("application/vnd.docker.distribution.manifest.v2+json", await _registry.GetManifestJsonAsync("dockerv2", "1"));
        string docker = await PullAsync($"{_registry.Host}/dockerv2:1");
        Assert.Equal("docker-v2s2", await RunAsync(docker, "cat /kind"));

        ImagePullImages zstd = fixture.NewLayout();
        zstd.AddImage("1", [fixture.BaseLayer, TestLayer.Tar(ImagePullImages.Tar(File("kind", "zstd")))]);
        await _registry.PushAsync(zstd.Dir, "1", "zstdlayers", "1", compression: "zstd");
        Assert.Contains("+zstd", await _registry.GetManifestJsonAsync("zstdlayers", "1"));
        string zstdImage = await PullAsync($"{_registry.Host}/zstdlayers:1");
        Assert.Equal("zstd", await RunAsync(zstdImage, "cat /kind"));
    }

    [Fact]
    public async Task BasicAuthNeedsTheRightCredentials()
    {
        Registry secured = fixture.Auth;
        ImagePullImages layout = fixture.NewLayout();
        var (_, configDigest, _) = layout.AddImage("1", [fixture.BaseLayer, TestLayer.Gzip(File("secret", "only with credentials"))]);
        await secured.PushAsync(layout.Dir, "1", "private", "1");
        string name = $"{secured.Host}/private:1";

        RpcException anonymous = await Cri.FailsAsync(() => PullAsync(name));
        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);
        Assert.Contains("credentials", anonymous.Status.Detail);

        RpcException wrong = await Cri.FailsAsync(() => PullAsync(name, new AuthConfig { Username = ImagePullFixture.User, Password = "wrong" }));
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
        Assert.Null(await FindAsync(name));

        Assert.Equal(configDigest, await PullAsync(name, new AuthConfig { Username = ImagePullFixture.User, Password = ImagePullFixture.Password }));
        Assert.Contains(name, (await StatusAsync(configDigest)).RepoTags);

        // The same credentials as docker's "auth" field, scoped to this registry by server_address.
        string auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{ImagePullFixture.User}:{ImagePullFixture.Password}"));
        Assert.Equal(configDigest, await PullAsync(name, new AuthConfig { Auth = auth, ServerAddress = secured.Host }));
        // Credentials meant for another registry are not sent here.
        RpcException elsewhere = await Cri.FailsAsync(() => PullAsync(name, new AuthConfig { Auth = auth, ServerAddress = "other.example" }));
        Assert.Equal(StatusCode.Unauthenticated, elsewhere.StatusCode);
        Assert.Equal("only with credentials", await RunAsync(configDigest, "cat /secret"));
    }

    [Fact]
    public async Task BearerTokenFlowWithEachKindOfCredential()
    {
        ImagePullImages layout = fixture.NewLayout();
        var (_, configDigest, _) = layout.AddImage("1", [fixture.BaseLayer, TestLayer.Gzip(File("token", "bearer"))]);
        await _registry.PushAsync(layout.Dir, "1", "tokened", "1");
        await using var front = new ImagePullTokenRegistry(_registry, ImagePullFixture.User, ImagePullFixture.Password);
        string name = $"{front.Host}/tokened:1";

        RpcException anonymous = await Cri.FailsAsync(() => PullAsync(name));
        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);
        Assert.Contains("token server", anonymous.Status.Detail);

        Assert.Equal(configDigest, await PullAsync(name, new AuthConfig { Username = ImagePullFixture.User, Password = ImagePullFixture.Password }));
        Assert.Contains($"GET scope=repository:tokened:pull&service={ImagePullTokenRegistry.Service}", front.TokenRequests);
        Assert.Empty(front.LeakedAuthorization); // blob redirects went to the other origin without our token

        // An OAuth2 refresh token (identity_token) is exchanged by POST; a registry_token is used as is.
        Assert.Equal(configDigest, await PullAsync(name, new AuthConfig { IdentityToken = ImagePullTokenRegistry.RefreshToken }));
        Assert.Contains(front.TokenRequests, r => r.StartsWith("POST grant_type=refresh_token&scope=repository:tokened:pull", StringComparison.Ordinal));
        int tokenRequests = front.TokenRequests.Count;
        Assert.Equal(configDigest, await PullAsync(name, new AuthConfig { RegistryToken = ImagePullTokenRegistry.StaticToken }));
        Assert.Equal(tokenRequests, front.TokenRequests.Count);
        Assert.Empty(front.LeakedAuthorization);
    }

    [Fact]
    public async Task MirrorServesDockerHubNames()
    {
        ImagePullImages layout = fixture.NewLayout();
        var (_, configDigest, _) = layout.AddImage("1", [fixture.BaseLayer, TestLayer.Gzip(File("from", "the mirror"))]);
        await _registry.PushAsync(layout.Dir, "1", "library/mirrored", "1");

        // "mirrored:1" is docker.io/library/mirrored:1; the daemon's config sends docker.io to the local mirror first.
        string imageRef = await PullAsync("mirrored:1");

        Assert.Equal(configDigest, imageRef);
        Assert.Contains("docker.io/library/mirrored:1", (await StatusAsync(imageRef)).RepoTags);
        Assert.NotNull(await FindAsync("mirrored:1"));
        Assert.True(_registry.Gets("/v2/library/mirrored/manifests/1") >= 1, "the mirror was not asked");
        Assert.Equal("the mirror", await RunAsync(imageRef, "cat /from"));
    }

    [Fact]
    public async Task ConcurrentPullsDownloadEachBlobOnce()
    {
        ImagePullImages layout = fixture.NewLayout();
        TestLayer shared = TestLayer.Gzip(ImagePullImages.RandomTar("shared.bin", 6 << 20));
        var first = layout.AddImage("1", [fixture.BaseLayer, shared, TestLayer.Gzip(ImagePullImages.RandomTar("one.bin", 6 << 20))]);
        var second = layout.AddImage("2", [fixture.BaseLayer, shared, TestLayer.Gzip(ImagePullImages.RandomTar("two.bin", 1 << 20))]);
        await _registry.PushAsync(layout.Dir, "1", "concurrent", "1");
        await _registry.PushAsync(layout.Dir, "2", "concurrent", "2");
        string[] firstLayers = LayerDigests(await _registry.GetManifestJsonAsync("concurrent", "1"));

        string[] refs = await Task.WhenAll(
            PullAsync($"{_registry.Host}/concurrent:1"), PullAsync($"{_registry.Host}/concurrent:1"), PullAsync($"{_registry.Host}/concurrent:1"));

        Assert.All(refs, r => Assert.Equal(first.ConfigDigest, r));
        foreach (string digest in firstLayers.Skip(1).Append(first.ConfigDigest))
            Assert.Equal(1, _registry.Gets($"/v2/concurrent/blobs/{digest}"));

        // A second image sharing a layer: only what is new is fetched.
        Assert.Equal(second.ConfigDigest, await PullAsync($"{_registry.Host}/concurrent:2"));
        Assert.Equal(1, _registry.Gets($"/v2/concurrent/blobs/{firstLayers[1]}"));
        Assert.Equal((6 << 20).ToString(), (await RunAsync(second.ConfigDigest, "wc -c < /shared.bin")).Trim());
    }

    internal static string[] LayerDigests(string manifestJson) =>
        [.. JsonNode.Parse(manifestJson)!["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>())];

    private Task<string> PullAsync(string image, AuthConfig? auth = null) => PullImage(_daemon, image, auth);

    internal static async Task<string> PullImage(Daemon daemon, string image, AuthConfig? auth = null)
    {
        var request = new PullImageRequest { Image = new ImageSpec { Image = image } };
        if (auth is not null) request.Auth = auth;
        return (await daemon.Images.PullImageAsync(request, deadline: DateTime.UtcNow.AddMinutes(2))).ImageRef;
    }

    private async Task<Image> StatusAsync(string image) =>
        await FindAsync(image) ?? throw new InvalidOperationException($"{image} is not stored");

    private async Task<Image?> FindAsync(string image) =>
        (await _daemon.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } })).Image;

    /// <summary>Runs a shell script in a container of <paramref name="image"/> and returns its stdout.</summary>
    private async Task<string> RunAsync(string image, string script)
    {
        PodSandboxConfig pod = Cri.PodConfig(_daemon, "pull-" + Guid.NewGuid().ToString("N")[..6]);
        string podId = await Cri.RunPodAsync(_daemon, pod);
        try
        {
            ContainerConfig config = Cri.ContainerConfig("probe", "/bin/sh", "-c", script);
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
