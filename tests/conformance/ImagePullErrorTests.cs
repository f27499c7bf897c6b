using System.Security.Cryptography;
using Grpc.Core;
using JailShim.Cri.V1;
using static JailShim.Conformance.LayerEntry;

namespace JailShim.Conformance;

/// <summary>Pulls that must fail: each with its own status code, a message a person can act on, and the store left as it was.</summary>
[Collection(ImagePullCollection.Name)]
public sealed class ImagePullErrorTests(ImagePullFixture fixture)
{
    private readonly Daemon _daemon = fixture.Daemon;
    private readonly Registry _registry = fixture.Plain;

    [Fact]
    public async Task MissingTagOrRepositoryIsNotFound()
    {
        ImagePullImages layout = fixture.NewLayout();
        layout.AddImage("1", [fixture.BaseLayer, TestLayer.Gzip(File("x", "x"))]);
        await _registry.PushAsync(layout.Dir, "1", "hastags", "1");

        RpcException tag = await FailsAsync($"{_registry.Host}/hastags:nope", StatusCode.NotFound);
        Assert.Contains("not found", tag.Status.Detail);
        Assert.Contains("nope", tag.Status.Detail);
        await FailsAsync($"{_registry.Host}/no/such/repository:1", StatusCode.NotFound);
        await FailsAsync($"{_registry.Host}/hastags@sha256:{new string('0', 64)}", StatusCode.NotFound);
    }

    [Fact]
    public async Task UnreachableRegistryIsUnavailable()
    {
        int closed = Registry.FreePort();
        RpcException e = await FailsAsync($"127.0.0.1:{closed}/anything:1", StatusCode.Unavailable);
        Assert.Contains("unreachable", e.Status.Detail);
        Assert.Contains($"127.0.0.1:{closed}", e.Status.Detail);
    }

    [Fact]
    public async Task BadReferenceIsInvalidArgument()
    {
        await FailsAsync("UPPER/Case:tag", StatusCode.InvalidArgument);
        await FailsAsync("", StatusCode.InvalidArgument);
    }

    [Fact]
    public async Task TamperedBlobIsADigestMismatchAndLeavesNothing()
    {
        ImagePullImages layout = fixture.NewLayout();
        layout.AddImage("1", [fixture.BaseLayer, TestLayer.Gzip(ImagePullImages.RandomTar("payload.bin", 1 << 20))]);
        await _registry.PushAsync(layout.Dir, "1", "tampered", "1");
        string layer = ImagePullTests.LayerDigests(await _registry.GetManifestJsonAsync("tampered", "1"))[^1];
        // Same size, different bytes: only the digest can tell.
        string blob = _registry.BlobPath(layer);
        byte[] bytes = await System.IO.File.ReadAllBytesAsync(blob);
        bytes[bytes.Length / 2] ^= 0xff;
        await System.IO.File.WriteAllBytesAsync(blob, bytes);

        StoreContents before = Snapshot();
        RpcException e = await FailsAsync($"{_registry.Host}/tampered:1", StatusCode.DataLoss);
        Assert.Contains("digest mismatch", e.Status.Detail);
        Assert.Contains(layer, e.Status.Detail);
        AssertUnchanged(before);
    }

    [Fact]
    public async Task CorruptGzipLayerIsDataLoss()
    {
        ImagePullImages layout = fixture.NewLayout();
        byte[] gzip = ImagePullImages.Gzip(ImagePullImages.Tar(File("a", new string('a', 100_000))));
        byte[] broken = [.. gzip.AsSpan(0, 10), .. RandomNumberGenerator.GetBytes(gzip.Length - 10)]; // a gzip header, then noise
        var layer = new TestLayer(broken, "application/vnd.oci.image.layer.v1.tar+gzip", "sha256:" + new string('1', 64));
        layout.AddImage("1", [fixture.BaseLayer, layer]);
        await _registry.PushAsync(layout.Dir, "1", "corrupt", "1");

        StoreContents before = Snapshot();
        RpcException e = await FailsAsync($"{_registry.Host}/corrupt:1", StatusCode.DataLoss);
        Assert.Contains(layer.Digest, e.Status.Detail);
        AssertUnchanged(before);
    }

    [Theory]
    [InlineData("dotdot", "../escape")]
    [InlineData("symlink", "link/escape")]
    [InlineData("absolute", "/escape")]
    public async Task HostileLayerIsRefusedNamingTheEntry(string kind, string entry)
    {
        LayerEntry[] entries = kind == "symlink"
            ? [Symlink("link", "/tmp"), File(entry, "written through a link")]
            : [File(entry, "outside the layer")];
        ImagePullImages layout = fixture.NewLayout();
        layout.AddImage("1", [fixture.BaseLayer, TestLayer.Gzip(File("fine", "fine")), TestLayer.Gzip(entries)]);
        await _registry.PushAsync(layout.Dir, "1", "hostile-" + kind, "1");

        StoreContents before = Snapshot();
        RpcException e = await FailsAsync($"{_registry.Host}/hostile-{kind}:1", StatusCode.FailedPrecondition);
        Assert.Contains($"'{entry}'", e.Status.Detail);
        Assert.Contains("refused", e.Status.Detail);
        AssertUnchanged(before);
        Assert.False(System.IO.File.Exists("/tmp/escape"));
        Assert.False(System.IO.File.Exists("/escape"));
    }

    [Fact]
    public async Task ImageWithoutThisPlatformIsNotFound()
    {
        ImagePullImages layout = fixture.NewLayout();
        var arm = layout.AddImage(null, [TestLayer.Gzip(File("arch", "arm64"))], architecture: "arm64");
        layout.AddIndex("arm-only", [(arm.ManifestDigest, arm.ManifestSize, "arm64")]);
        await _registry.PushAsync(layout.Dir, "arm-only", "armonly", "1", all: true);

        RpcException e = await FailsAsync($"{_registry.Host}/armonly:1", StatusCode.NotFound);
        Assert.Contains("linux/amd64", e.Status.Detail);
        Assert.Contains("linux/arm64", e.Status.Detail);
    }

    [Fact]
    public async Task ConfigThatBreaksThePlainHttpRuleStopsTheDaemon()
    {
        string config = Path.Combine(fixture.WorkDir, "bad-config.json");
        await System.IO.File.WriteAllTextAsync(config,
            """{"registries":[{"host":"docker.io","mirrors":["http://192.0.2.1:5000"]}]}""");
        string dir = Directory.CreateTempSubdirectory("jst-badconfig-").FullName;
        try
        {
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => Daemon.StartAsync(dir, ["--config", config]));
            Assert.Contains("plain HTTP", e.Message);
            Assert.Contains("192.0.2.1:5000", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private async Task<RpcException> FailsAsync(string image, StatusCode code)
    {
        RpcException e = await Cri.FailsAsync(() => ImagePullTests.PullImage(_daemon, image));
        Assert.True(code == e.StatusCode, $"expected {code}, got {e.StatusCode}: {e.Status.Detail}");
        Assert.DoesNotContain("Exception", e.Status.Detail);
        return e;
    }

    private sealed record StoreContents(string[] Images, string[] Blobs, string[] Layers);

    private StoreContents Snapshot()
    {
        string store = Path.Combine(_daemon.Root, "images");
        return new StoreContents(
            [.. _daemon.Images.ListImages(new ListImagesRequest()).Images.Select(i => i.Id).Order()],
            [.. Directory.EnumerateFiles(Path.Combine(store, "blobs", "sha256")).Select(Path.GetFileName).Order()!],
            [.. Directory.EnumerateDirectories(Path.Combine(store, "layers", "sha256")).Select(Path.GetFileName).Order()!]);
    }

    private void AssertUnchanged(StoreContents before)
    {
        StoreContents after = Snapshot();
        Assert.Equal(before.Images, after.Images);
        Assert.Equal(before.Blobs, after.Blobs);
        Assert.Equal(before.Layers, after.Layers);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_daemon.Root, "images", "tmp")));
    }
}
