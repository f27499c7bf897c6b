using System.Text.Json.Nodes;
using JailShim.Runtime.Images;
using static JailShim.Runtime.Tests.Images.ImageTestArchives;

namespace JailShim.Runtime.Tests.Images;

/// <summary>Importing from disk: OCI image layouts and docker save archives.</summary>
public sealed class ImageImportTests : IDisposable
{
    private readonly ImageTestDir _dir = new();
    private readonly string _root;

    public ImageImportTests() => _root = _dir.Sub("store");

    public void Dispose() => _dir.Dispose();

    private static readonly byte[] BaseLayer = new LayerTestTar().Dir("etc/").File("etc/os-release", "ID=test\n").ToArray();
    private static readonly byte[] TopLayer = new LayerTestTar().File("marker", "imported\n").ToArray();
    private static readonly byte[] ArmLayer = new LayerTestTar().File("marker", "arm\n").ToArray();

    private string Fs(ImageStore store, StoredImage image, int layer) => store.LowerDirs(image)[image.LayerDiffIds.Count - 1 - layer];

    private IEnumerable<string> StoreFiles(string sub) =>
        Directory.Exists(Path.Combine(_root, sub)) ? Directory.EnumerateFileSystemEntries(Path.Combine(_root, sub)) : [];

    [Fact]
    public async Task OciLayout_ImportsWithTheRefNameAndItsManifestDigest()
    {
        var layout = new OciLayout(_dir.Sub("layout"));
        byte[] config = Config([BaseLayer, TopLayer], user: "1000:1000");
        JsonObject manifest = layout.Image(config, [BaseLayer, TopLayer]);
        layout.WriteIndex(WithRef(manifest, "example.com/app:1"));

        var store = new ImageStore(_root);
        StoredImage image = Assert.Single(await store.ImportPathAsync(layout.Dir));

        Assert.Equal(DigestOf(config), image.Id); // the config is stored byte for byte
        Assert.Equal(["example.com/app:1"], image.RepoTags);
        Assert.Equal([$"example.com/app@{manifest["digest"]}"], image.RepoDigests);
        Assert.Equal([DigestOf(BaseLayer), DigestOf(TopLayer)], image.LayerDiffIds);
        Assert.Equal("1000:1000", image.Config.User);
        Assert.Equal("imported\n", File.ReadAllText(Path.Combine(Fs(store, image, 1), "marker")));
        Assert.Equal(image.Id, store.Find("example.com/app:1")!.Id);
        Assert.Equal(image.Id, store.Find($"example.com/app@{manifest["digest"]}")!.Id);
        Assert.Empty(StoreFiles("tmp"));
    }

    [Fact]
    public async Task OciLayout_BareTagRef_TakesItsRepositoryFromName()
    {
        var layout = new OciLayout(_dir.Sub("layout"));
        layout.WriteIndex(WithRef(layout.Image(Config([BaseLayer]), [BaseLayer], gzip: false), "v2"));
        var store = new ImageStore(_root);

        // A ref name that is only a tag names nothing on its own: the image is found by id.
        StoredImage untagged = Assert.Single(await store.ImportPathAsync(layout.Dir));
        Assert.Empty(untagged.RepoTags);
        Assert.Equal(untagged.Id, store.Find(untagged.Id)!.Id);

        StoredImage named = Assert.Single(await store.ImportPathAsync(layout.Dir, "example.com/app"));
        Assert.Equal(["example.com/app:v2"], named.RepoTags);
        StoredImage renamed = Assert.Single(await store.ImportPathAsync(layout.Dir, "example.com/other:3"));
        Assert.Contains("example.com/other:3", renamed.RepoTags);
    }

    [Fact]
    public async Task OciLayout_IndexWithSeveralPlatforms_PicksAmd64()
    {
        var layout = new OciLayout(_dir.Sub("layout"));
        byte[] armConfig = Config([BaseLayer, ArmLayer], arch: "arm64");
        byte[] amdConfig = Config([BaseLayer, TopLayer], arch: "amd64");
        JsonObject list = layout.NestedIndex(
            WithPlatform(layout.Image(armConfig, [BaseLayer, ArmLayer]), "arm64"),
            WithPlatform(layout.Image(amdConfig, [BaseLayer, TopLayer]), "amd64"),
            WithPlatform(layout.Blob("{}"u8.ToArray(), "application/vnd.oci.image.manifest.v1+json"), "unknown", "unknown"));
        layout.WriteIndex(WithRef(list, "example.com/multi:1"));

        var store = new ImageStore(_root);
        StoredImage image = Assert.Single(await store.ImportPathAsync(layout.Dir));

        Assert.Equal(DigestOf(amdConfig), image.Id);
        Assert.Equal([$"example.com/multi@{list["digest"]}"], image.RepoDigests); // the list's digest, as a registry reports it
        Assert.Equal("imported\n", File.ReadAllText(Path.Combine(Fs(store, image, 1), "marker")));
        Assert.False(Directory.Exists(Path.Combine(_root, "layers", "sha256", DigestOf(ArmLayer)[7..])));
    }

    [Fact]
    public async Task OciLayout_PlatformsListedInIndexJson_PicksAmd64()
    {
        var layout = new OciLayout(_dir.Sub("layout"));
        layout.WriteIndex(
            WithPlatform(layout.Image(Config([ArmLayer], arch: "arm64"), [ArmLayer]), "arm64"),
            WithPlatform(layout.Image(Config([TopLayer]), [TopLayer]), "amd64"));

        StoredImage image = Assert.Single(await new ImageStore(_root).ImportPathAsync(layout.Dir, "example.com/x:1"));
        Assert.Equal([DigestOf(TopLayer)], image.LayerDiffIds);
    }

    [Fact]
    public async Task OciLayout_WithoutThisPlatform_IsRefused()
    {
        var layout = new OciLayout(_dir.Sub("layout"));
        layout.WriteIndex(layout.NestedIndex(WithPlatform(layout.Image(Config([ArmLayer], arch: "arm64"), [ArmLayer]), "arm64")));

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => new ImageStore(_root).ImportPathAsync(layout.Dir, "x"));
        Assert.Contains("no image for linux/amd64", e.Message);
        Assert.Contains("linux/arm64", e.Message);
    }

    [Fact]
    public async Task OciLayout_SingleManifestForAnotherArchitecture_IsRefused()
    {
        var layout = new OciLayout(_dir.Sub("layout"));
        layout.WriteIndex(layout.Image(Config([ArmLayer], arch: "arm64"), [ArmLayer]));

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => new ImageStore(_root).ImportPathAsync(layout.Dir, "x"));
        Assert.Contains("linux/arm64", e.Message);
        Assert.Empty(StoreFiles("layers/sha256"));
    }

    [Fact]
    public async Task OciLayout_LayerDigestMismatch_IsRefused_AndLeavesNothing()
    {
        var layout = new OciLayout(_dir.Sub("layout"));
        JsonObject manifest = layout.Image(Config([BaseLayer, TopLayer]), [BaseLayer, TopLayer], gzip: false);
        layout.WriteIndex(WithRef(manifest, "example.com/bad:1"));
        // Same size, different bytes: only the digest can tell.
        string topBlob = layout.BlobPath(DigestOf(TopLayer));
        byte[] tampered = File.ReadAllBytes(topBlob);
        tampered[600] ^= 0x20;
        File.WriteAllBytes(topBlob, tampered);

        var store = new ImageStore(_root);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => store.ImportPathAsync(layout.Dir));
        Assert.Contains("digest mismatch", e.Message);
        Assert.Contains(DigestOf(TopLayer), e.Message);

        Assert.Empty(store.List());
        Assert.Empty(StoreFiles("blobs/sha256"));
        Assert.Empty(StoreFiles("layers/sha256"));
        Assert.Empty(StoreFiles("images"));
        Assert.Empty(StoreFiles("tmp"));
    }

    [Fact]
    public async Task OciLayout_ConfigDigestMismatch_IsRefused()
    {
        var layout = new OciLayout(_dir.Sub("layout"));
        byte[] config = Config([BaseLayer]);
        JsonObject manifest = layout.Image(config, [BaseLayer]);
        File.WriteAllBytes(layout.BlobPath(DigestOf(config)), Config([BaseLayer], cmd: "/bin/ev"));
        layout.WriteIndex(manifest);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => new ImageStore(_root).ImportPathAsync(layout.Dir, "x"));
        Assert.Contains("digest mismatch", e.Message);
        Assert.Empty(StoreFiles("blobs/sha256"));
    }

    [Fact]
    public async Task OciLayout_InATar_ImportsLikeTheDirectory()
    {
        var layout = new OciLayout(_dir.Sub("layout"));
        layout.WriteIndex(WithRef(layout.Image(Config([BaseLayer, TopLayer]), [BaseLayer, TopLayer]), "example.com/app:tarred"));
        string archive = _dir.Sub("layout.tar");
        System.Formats.Tar.TarFile.CreateFromDirectory(layout.Dir, archive, includeBaseDirectory: false);

        StoredImage image = Assert.Single(await new ImageStore(_root).ImportPathAsync(archive));
        Assert.Equal(["example.com/app:tarred"], image.RepoTags);
    }

    [Fact]
    public async Task DockerArchive_ImportsWithItsRepoTags_GzipLayersToo()
    {
        byte[] config = Config([BaseLayer, TopLayer], user: "nobody");
        string archive = _dir.Sub("saved.tar");
        WriteDockerArchive(archive, config, [BaseLayer, TopLayer], ["busybox:1.36", "example.com/app:1"], gzipLayers: true);

        var store = new ImageStore(_root);
        StoredImage image = Assert.Single(await store.ImportPathAsync(archive));

        Assert.Equal(DigestOf(config), image.Id);
        Assert.Equal(["docker.io/library/busybox:1.36", "example.com/app:1"], image.RepoTags);
        Assert.Equal([DigestOf(BaseLayer), DigestOf(TopLayer)], image.LayerDiffIds);
        Assert.Equal("nobody", image.Config.User);
        Assert.Equal("ID=test\n", File.ReadAllText(Path.Combine(Fs(store, image, 0), "etc", "os-release")));
        Assert.Equal("imported\n", File.ReadAllText(Path.Combine(Fs(store, image, 1), "marker")));
        Assert.Empty(StoreFiles("tmp"));
    }

    [Fact]
    public async Task DockerArchive_LayerSymlinkedToAnother_IsFollowedInsideTheArchive()
    {
        // skopeo and old docker write each layer once and link "<id>/layer.tar" to it.
        byte[] config = Config([TopLayer]);
        string archive = _dir.Sub("linked.tar");
        using (var file = File.Create(archive))
        using (var tar = new System.Formats.Tar.TarWriter(file, System.Formats.Tar.TarEntryFormat.Pax))
        {
            void Add(string name, byte[] content) => tar.WriteEntry(
                new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content) });
            Add(DigestOf(TopLayer)[7..] + ".tar", TopLayer);
            tar.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.SymbolicLink, "legacy/layer.tar")
            {
                LinkName = "../" + DigestOf(TopLayer)[7..] + ".tar",
            });
            Add(DigestOf(config)[7..] + ".json", config);
            Add("manifest.json", System.Text.Encoding.UTF8.GetBytes(
                $$"""[{"Config":"{{DigestOf(config)[7..]}}.json","RepoTags":["linked:1"],"Layers":["legacy/layer.tar"]}]"""));
        }

        var store = new ImageStore(_root);
        StoredImage image = Assert.Single(await store.ImportPathAsync(archive));
        Assert.Equal("imported\n", File.ReadAllText(Path.Combine(Fs(store, image, 0), "marker")));
    }

    [Fact]
    public async Task DockerArchive_Gzipped_AndRenamedByName()
    {
        string plain = _dir.Sub("saved.tar");
        WriteDockerArchive(plain, Config([TopLayer]), [TopLayer], ["busybox:1.36"]);
        string gz = _dir.Sub("saved.tar.gz");
        File.WriteAllBytes(gz, Gzip(File.ReadAllBytes(plain)));

        var store = new ImageStore(_root);
        StoredImage image = Assert.Single(await store.ImportPathAsync(gz, "example.com/renamed:2"));
        Assert.Equal(["example.com/renamed:2"], image.RepoTags);
        Assert.Null(store.Find("busybox:1.36"));
        Assert.Empty(StoreFiles("tmp")); // the decompressed copy is gone
    }

    [Fact]
    public async Task DockerArchive_LayerNotInTheConfig_IsRefused_AndLeavesNothing()
    {
        // The config promises TopLayer second; the archive carries ArmLayer there.
        string archive = _dir.Sub("saved.tar");
        WriteDockerArchive(archive, Config([BaseLayer, TopLayer]), [BaseLayer, ArmLayer], ["evil:1"]);

        var store = new ImageStore(_root);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => store.ImportPathAsync(archive));
        Assert.Contains("does not match the image config", e.Message);
        Assert.Empty(store.List());
        Assert.Empty(StoreFiles("blobs/sha256"));
        Assert.Empty(StoreFiles("layers/sha256")); // the good first layer, unpacked before the bad one, is taken away again
        Assert.Empty(StoreFiles("tmp"));
    }

    [Fact]
    public async Task NeitherLayoutNorArchive_IsRefused()
    {
        Directory.CreateDirectory(_dir.Sub("empty"));
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => new ImageStore(_root).ImportPathAsync(_dir.Sub("empty")));
        Assert.Contains("neither an OCI image layout", e.Message);
    }

    [Fact]
    public async Task SkipExisting_LeavesAStoredImageAlone()
    {
        var layout = new OciLayout(_dir.Sub("layout"));
        layout.WriteIndex(WithRef(layout.Image(Config([TopLayer]), [TopLayer]), "example.com/app:1"));
        var store = new ImageStore(_root);
        StoredImage first = Assert.Single(await store.ImportPathAsync(layout.Dir));

        // Were the layers read again, this would fail: skipping needs only the config.
        File.WriteAllText(layout.BlobPath(ImageTestArchives.DigestOf(Gzip(TopLayer))), "garbage");
        StoredImage again = Assert.Single(await store.ImportPathAsync(layout.Dir, skipExisting: true));
        Assert.Equal(first.Id, again.Id);
    }

    [Fact]
    public async Task ImportByAnotherStoreObject_IsSeenWithoutReopening()
    {
        // What the daemon sees when `jailshim image import` writes to its store.
        var daemon = new ImageStore(_root);
        Assert.Empty(daemon.List());

        string archive = _dir.Sub("saved.tar");
        WriteDockerArchive(archive, Config([TopLayer]), [TopLayer], ["example.com/late:1"]);
        await new ImageStore(_root).ImportPathAsync(archive);

        Assert.NotNull(daemon.Find("example.com/late:1"));
        Assert.Single(daemon.List());
    }
}
