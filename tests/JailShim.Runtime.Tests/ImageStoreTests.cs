using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using JailShim.Runtime.Images;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Tests.Images;

/// <summary>The content store: import, the ways to find an image, layer sharing, and what a crash can leave.</summary>
public sealed class ImageStoreTests : IDisposable
{
    private readonly ImageTestDir _dir = new();
    private readonly string _root;

    public ImageStoreTests() => _root = _dir.Sub("images");

    public void Dispose() => _dir.Dispose();

    private static readonly byte[] BaseLayer = new LayerTestTar()
        .Dir("etc/").File("etc/os-release", "ID=test\n").File("etc/motd", "hello\n")
        .Dir("var/").Dir("var/cache/").File("var/cache/old", "o")
        .ToArray();

    private static readonly byte[] TopLayer = new LayerTestTar()
        .Dir("etc/").File("etc/.wh.motd", "").File("etc/app.conf", "x=1\n")
        .Dir("var/").Dir("var/cache/").File("var/cache/.wh..wh..opq", "").File("var/cache/new", "n")
        .ToArray();

    private static byte[] Config(string? cmd = null) => Encoding.UTF8.GetBytes(new JsonObject
    {
        ["architecture"] = "amd64",
        ["os"] = "linux",
        ["config"] = new JsonObject
        {
            ["Entrypoint"] = new JsonArray("/bin/app"),
            ["Cmd"] = new JsonArray(cmd ?? "--serve"),
            ["Env"] = new JsonArray("PATH=/bin", "A=b"),
            ["WorkingDir"] = "/srv",
            ["User"] = "1000:1000",
            ["StopSignal"] = "SIGINT",
            ["Labels"] = new JsonObject { ["team"] = "jail" },
        },
    }.ToJsonString());

    private static Task<StoredImage> Import(ImageStore store, byte[] config, byte[][] layers, params string[] tags) =>
        store.ImportAsync(config, [.. layers.Select(l => (Func<Stream>)(() => new MemoryStream(l)))], tags);

    [Fact]
    public async Task Import_WritesBlobsLayersAndRecord()
    {
        var store = new ImageStore(_root);
        StoredImage image = await Import(store, Config(), [BaseLayer, TopLayer], "busybox");

        Assert.Equal(["docker.io/library/busybox:latest"], image.RepoTags);
        Assert.Equal([$"docker.io/library/busybox@{image.ManifestDigest}"], image.RepoDigests);
        Assert.Equal([LayerTestTar.DiffId(BaseLayer), LayerTestTar.DiffId(TopLayer)], image.LayerDiffIds);
        Assert.Equal(BaseLayer.Length + TopLayer.Length, image.Size);
        Assert.StartsWith("sha256:", image.Id);

        // Every blob is named by the digest of its bytes: layers, config (= image id), manifest.
        string blobs = Path.Combine(_root, "blobs", "sha256");
        foreach (string digest in image.LayerDiffIds.Append(image.Id).Append(image.ManifestDigest))
        {
            byte[] content = File.ReadAllBytes(Path.Combine(blobs, digest["sha256:".Length..]));
            Assert.Equal(digest, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content)));
        }
        // The stored config got rootfs.diff_ids filled in.
        var config = JsonNode.Parse(File.ReadAllBytes(Path.Combine(blobs, image.Id["sha256:".Length..])))!;
        Assert.Equal(image.LayerDiffIds, config["rootfs"]!["diff_ids"]!.AsArray().Select(d => d!.GetValue<string>()));
        var manifest = JsonNode.Parse(File.ReadAllBytes(Path.Combine(blobs, image.ManifestDigest["sha256:".Length..])))!;
        Assert.Equal(image.Id, manifest["config"]!["digest"]!.GetValue<string>());
        Assert.Equal(2, manifest["layers"]!.AsArray().Count);

        Assert.True(File.Exists(Path.Combine(_root, "images", image.Id["sha256:".Length..] + ".json")));
        Assert.Equal("hello\n", File.ReadAllText(Path.Combine(_root, "layers", "sha256", image.LayerDiffIds[0]["sha256:".Length..], "fs", "etc", "motd")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_root, "tmp")));
    }

    [Fact]
    public async Task Import_ParsesTheRunConfig()
    {
        var store = new ImageStore(_root);
        ImageConfig c = (await Import(store, Config(), [BaseLayer], "app")).Config;

        Assert.Equal(["/bin/app"], c.Entrypoint!);
        Assert.Equal(["--serve"], c.Cmd!);
        Assert.Equal(["PATH=/bin", "A=b"], c.Env);
        Assert.Equal("/srv", c.WorkingDir);
        Assert.Equal("1000:1000", c.User);
        Assert.Equal("SIGINT", c.StopSignal);
        Assert.Equal("jail", c.Labels["team"]);
    }

    [Fact]
    public async Task Import_UnsetEntrypointStaysNull()
    {
        var store = new ImageStore(_root);
        byte[] config = Encoding.UTF8.GetBytes("""{"os":"linux","config":{"Cmd":["/bin/sh"]}}""");
        ImageConfig c = (await Import(store, config, [BaseLayer], "plain")).Config;
        Assert.Null(c.Entrypoint);
        Assert.Equal(["/bin/sh"], c.Cmd!);
        Assert.Empty(c.Env);
        Assert.Null(c.WorkingDir);
    }

    [Fact]
    public async Task Find_ByEveryKindOfName()
    {
        var store = new ImageStore(_root);
        StoredImage image = await Import(store, Config(), [BaseLayer, TopLayer], "busybox", "jailshim.local/base:latest");
        string hex = image.Id["sha256:".Length..];

        string[] names =
        [
            image.Id, hex, hex[..12], "sha256:" + hex[..12], hex[..20],
            "busybox", "busybox:latest", "docker.io/library/busybox", "library/busybox:latest",
            "jailshim.local/base:latest", "jailshim.local/base",
            "busybox@" + image.ManifestDigest, "docker.io/library/busybox@" + image.ManifestDigest,
            "jailshim.local/base@" + image.ManifestDigest,
        ];
        foreach (string name in names)
            Assert.True(store.Find(name)?.Id == image.Id, $"Find(\"{name}\") should find the image");

        string[] misses = ["", hex[..11], "busybox:1.0", "other", "jailshim.local/other", "busybox@sha256:" + new string('0', 64), "sha256:" + new string('0', 64)];
        foreach (string name in misses)
            Assert.True(store.Find(name) is null, $"Find(\"{name}\") should find nothing");

        Assert.Equal([image.Id], store.List().Select(i => i.Id));
    }

    [Fact]
    public async Task LowerDirs_AreTopMostFirst_AndWorkAsOverlay()
    {
        var store = new ImageStore(_root);
        StoredImage image = await Import(store, Config(), [BaseLayer, TopLayer], "app");
        IReadOnlyList<string> lower = store.LowerDirs(image);

        Assert.Equal(2, lower.Count);
        Assert.EndsWith(Path.Combine(image.LayerDiffIds[1]["sha256:".Length..], "fs"), lower[0]);
        Assert.EndsWith(Path.Combine(image.LayerDiffIds[0]["sha256:".Length..], "fs"), lower[1]);

        // The real test of the whiteouts: overlayfs hides what the top layer deleted.
        string merged = _dir.Sub("merged");
        Directory.CreateDirectory(merged);
        var (code, output) = await ImageTestDir.RunAsync("mount", "-t", "overlay", "overlay", "-o", "ro,lowerdir=" + string.Join(':', lower), merged);
        Assert.True(code == 0, output);
        try
        {
            Assert.Equal("ID=test\n", File.ReadAllText(Path.Combine(merged, "etc/os-release")));
            Assert.Equal("x=1\n", File.ReadAllText(Path.Combine(merged, "etc/app.conf")));
            Assert.False(File.Exists(Path.Combine(merged, "etc/motd")));          // .wh.motd
            Assert.False(File.Exists(Path.Combine(merged, "var/cache/old")));     // opaque dir
            Assert.True(File.Exists(Path.Combine(merged, "var/cache/new")));
        }
        finally
        {
            await ImageTestDir.RunAsync("umount", merged);
        }
    }

    [Fact]
    public async Task SharedLayer_IsUnpackedOnce()
    {
        var store = new ImageStore(_root);
        StoredImage first = await Import(store, Config("one"), [BaseLayer], "one");
        string baseFs = store.LowerDirs(first)[0];
        File.WriteAllText(Path.Combine(baseFs, "marker"), "untouched"); // would vanish if the layer were unpacked again

        StoredImage second = await Import(store, Config("two"), [BaseLayer, TopLayer], "two");

        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal(baseFs, store.LowerDirs(second)[1]);
        Assert.True(File.Exists(Path.Combine(baseFs, "marker")));
        Assert.Equal(2, Directory.GetDirectories(Path.Combine(_root, "layers", "sha256")).Length);
        Assert.Equal(2, store.List().Count);
    }

    [Fact]
    public async Task Tag_MovesToTheNewestImage_AndReimportMergesTags()
    {
        var store = new ImageStore(_root);
        StoredImage old = await Import(store, Config("old"), [BaseLayer], "app:1", "app:stable");
        StoredImage @new = await Import(store, Config("new"), [BaseLayer], "app:stable");

        Assert.Equal(@new.Id, store.Find("app:stable")!.Id);
        Assert.Equal(["docker.io/library/app:1"], store.Find(old.Id)!.RepoTags);

        StoredImage again = await Import(store, Config("new"), [BaseLayer], "app:latest");
        Assert.Equal(@new.Id, again.Id);
        Assert.Equal(["docker.io/library/app:stable", "docker.io/library/app:latest"], again.RepoTags);

        // And all of it survives a restart.
        var reopened = new ImageStore(_root);
        Assert.Equal(["docker.io/library/app:1"], reopened.Find(old.Id)!.RepoTags);
        Assert.Equal(@new.Id, reopened.Find("app")!.Id);
        Assert.Equal(2, reopened.List().Count);
    }

    [Fact]
    public async Task Reopen_FindsTheSameImage()
    {
        StoredImage image = await Import(new ImageStore(_root), Config(), [BaseLayer, TopLayer], "busybox");
        var reopened = new ImageStore(_root);
        StoredImage found = reopened.Find("busybox")!;
        Assert.Equal(image.Id, found.Id);
        Assert.Equal(image.LayerDiffIds, found.LayerDiffIds);
        Assert.Equal(image.Config.Env, found.Config.Env);
        Assert.Equal(image.Size, found.Size);
        Assert.Equal(new ImageStore(_root).LowerDirs(found), reopened.LowerDirs(found));
    }

    [Fact]
    public async Task CrashLeftovers_AreIgnoredAndCleanedOnOpen()
    {
        StoredImage image = await Import(new ImageStore(_root), Config(), [BaseLayer], "busybox");

        // What a crash mid-import leaves: a half-unpacked layer and a half-written blob and record in tmp/.
        string tmp = Path.Combine(_root, "tmp");
        string halfLayer = Path.Combine(tmp, $"layer.{LayerTestTar.DiffId(TopLayer)[7..19]}.deadbeef", "fs", "etc");
        Directory.CreateDirectory(halfLayer);
        File.WriteAllText(Path.Combine(halfLayer, "app.conf"), "x=");
        File.WriteAllText(Path.Combine(tmp, "blob.deadbeef.tmp"), "partial");
        File.WriteAllText(Path.Combine(tmp, "0123.json.deadbeef.tmp"), "{\"id\":");

        var store = new ImageStore(_root);
        Assert.Empty(Directory.EnumerateFileSystemEntries(tmp));
        Assert.Equal([image.Id], store.List().Select(i => i.Id));

        // The layer that was half done is unpacked properly when next imported.
        StoredImage two = await Import(store, Config("two"), [BaseLayer, TopLayer], "two");
        Assert.Equal("x=1\n", File.ReadAllText(Path.Combine(store.LowerDirs(two)[0], "etc", "app.conf")));
    }

    [Fact]
    public async Task Record_WithMissingLayer_OrGarbage_IsIgnored()
    {
        StoredImage image = await Import(new ImageStore(_root), Config(), [BaseLayer], "busybox");
        File.WriteAllText(Path.Combine(_root, "images", new string('a', 64) + ".json"), "not json");
        Directory.Delete(Path.Combine(_root, "layers", "sha256", image.LayerDiffIds[0][7..]), recursive: true);

        var store = new ImageStore(_root);
        Assert.Empty(store.List());
        Assert.Null(store.Find("busybox"));
    }

    [Fact]
    public async Task HostileLayer_FailsTheImport_AndLeavesNothing()
    {
        var store = new ImageStore(_root);
        byte[] hostile = new LayerTestTar().Dir("etc/").Hardlink("etc/shadow", "../../etc/shadow").ToArray();

        var e = await Assert.ThrowsAsync<UnsafeLayerEntryException>(() => Import(store, Config(), [BaseLayer, hostile], "evil"));
        Assert.Equal("etc/shadow", e.EntryName);

        Assert.Null(store.Find("evil"));
        Assert.Empty(store.List());
        Assert.False(Directory.Exists(Path.Combine(_root, "layers", "sha256", LayerTestTar.DiffId(hostile)[7..])));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_root, "tmp")));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_root, "images")));
    }

    [Fact]
    public async Task ConfigListingOtherLayers_IsRefused()
    {
        var store = new ImageStore(_root);
        byte[] config = Encoding.UTF8.GetBytes($$$"""{"os":"linux","rootfs":{"type":"layers","diff_ids":["{{{LayerTestTar.DiffId(TopLayer)}}}"]}}""");

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Import(store, config, [BaseLayer], "wrong"));
        Assert.Contains("lists layers", e.Message);
        Assert.Empty(store.List());
    }

    [Fact]
    public async Task ConfigListingTheRightLayers_KeepsItsDigest()
    {
        var store = new ImageStore(_root);
        byte[] config = Encoding.UTF8.GetBytes($$$"""{"os":"linux","rootfs":{"type":"layers","diff_ids":["{{{LayerTestTar.DiffId(BaseLayer)}}}"]}}""");

        StoredImage image = await Import(store, config, [BaseLayer], "exact");
        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(config)), image.Id);
    }

    [Fact]
    public async Task ImportWithDigestTag_IsRefused()
    {
        var store = new ImageStore(_root);
        await Assert.ThrowsAsync<ArgumentException>(() => Import(store, Config(), [BaseLayer], "busybox@sha256:" + new string('0', 64)));
        await Assert.ThrowsAsync<FormatException>(() => Import(store, Config(), [BaseLayer], "Not Valid"));
    }

    [Fact]
    public async Task ImageFsUsage_CountsTheStore()
    {
        var store = new ImageStore(_root);
        ImageFsUsage before = ImageFsUsage.Measure(_root);
        await Import(store, Config(), [BaseLayer, TopLayer], "busybox");
        ImageFsUsage after = ImageFsUsage.Measure(_root);

        Assert.True(after.UsedBytes > before.UsedBytes);
        Assert.True(after.InodesUsed > before.InodesUsed + 10);
    }
}
