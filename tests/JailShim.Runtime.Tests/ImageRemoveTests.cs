using JailShim.Runtime.Images;
using static JailShim.Runtime.Tests.Images.ImageTestArchives;

namespace JailShim.Runtime.Tests.Images;

/// <summary>RemoveImage by id, tag and digest, and garbage collection of what no image or container uses.</summary>
public sealed class ImageRemoveTests : IDisposable
{
    private readonly ImageTestDir _dir = new();
    private readonly string _root;
    private readonly ImageStore _store;

    public ImageRemoveTests()
    {
        _root = _dir.Sub("store");
        _store = new ImageStore(_root);
    }

    public void Dispose() => _dir.Dispose();

    private static readonly byte[] BaseLayer = new LayerTestTar().Dir("etc/").File("etc/os-release", "ID=test\n").ToArray();
    private static readonly byte[] AppLayer = new LayerTestTar().File("app", "app\n").ToArray();
    private static readonly byte[] ToolLayer = new LayerTestTar().File("tool", "tool\n").ToArray();

    private static readonly IReadOnlySet<string> NoContainers = new HashSet<string>();

    private Task<StoredImage> Import(byte[][] layers, params string[] tags) =>
        _store.ImportAsync(Config(layers), [.. layers.Select(l => (Func<Stream>)(() => new MemoryStream(l)))], tags);

    private bool HasLayer(byte[] layer) => Directory.Exists(Path.Combine(_root, "layers", "sha256", DigestOf(layer)[7..]));

    private bool HasBlob(string digest) => File.Exists(Path.Combine(_root, "blobs", "sha256", digest[7..]));

    [Fact]
    public async Task RemoveTag_OfAnImageWithSeveralTags_RemovesOnlyThatTag()
    {
        StoredImage image = await Import([BaseLayer], "example.com/app:1", "example.com/app:2", "example.com/other:1");

        Assert.Equal(image.Id, _store.Remove("example.com/app:1")!.Id);
        StoredImage left = _store.Find(image.Id)!;
        Assert.Equal(["example.com/app:2", "example.com/other:1"], left.RepoTags);
        Assert.Equal(image.RepoDigests, left.RepoDigests); // app:2 still names the repository

        _store.Remove("example.com/app:2");
        left = _store.Find(image.Id)!;
        Assert.Equal(["example.com/other:1"], left.RepoTags);
        Assert.Equal([$"example.com/other@{image.ManifestDigest}"], left.RepoDigests);
        Assert.Null(_store.Find("example.com/app:2"));

        // The last tag takes the image with it.
        _store.Remove("example.com/other:1");
        Assert.Null(_store.Find(image.Id));
        Assert.Empty(_store.List());
    }

    [Fact]
    public async Task RemoveById_RemovesTheImageWithAllItsTags()
    {
        StoredImage image = await Import([BaseLayer], "example.com/app:1", "example.com/app:2");
        StoredImage other = await Import([AppLayer], "example.com/keep:1");

        Assert.NotNull(_store.Remove(image.Id[7..19])); // a short id works as for Find
        Assert.Null(_store.Find(image.Id));
        Assert.Null(_store.Find("example.com/app:2"));
        Assert.Equal([other.Id], _store.List().Select(i => i.Id));
        Assert.False(File.Exists(Path.Combine(_root, "images", image.Id[7..] + ".json")));

        // A fresh store (a restart) agrees.
        Assert.Equal([other.Id], new ImageStore(_root).List().Select(i => i.Id));
    }

    [Fact]
    public async Task RemoveByDigest_RemovesThatRepository()
    {
        StoredImage image = await Import([BaseLayer], "example.com/app:1", "example.com/app:2", "example.com/other:1");

        _store.Remove($"example.com/app@{image.ManifestDigest}");
        StoredImage left = _store.Find(image.Id)!;
        Assert.Equal(["example.com/other:1"], left.RepoTags);
        Assert.Equal([$"example.com/other@{image.ManifestDigest}"], left.RepoDigests);

        _store.Remove($"example.com/other@{image.ManifestDigest}");
        Assert.Empty(_store.List());
    }

    [Fact]
    public async Task RemoveUnknown_IsNull_AndChangesNothing()
    {
        StoredImage image = await Import([BaseLayer], "example.com/app:1");
        Assert.Null(_store.Remove("example.com/app:2"));
        Assert.Null(_store.Remove("sha256:" + new string('0', 64)));
        Assert.Null(_store.Remove("nope"));
        Assert.Equal([image.Id], _store.List().Select(i => i.Id));
    }

    [Fact]
    public async Task Remove_IsSeenByAnotherStoreObject()
    {
        StoredImage image = await Import([BaseLayer], "example.com/app:1");
        var daemon = new ImageStore(_root);
        Assert.NotNull(daemon.Find("example.com/app:1"));
        _store.Remove(image.Id);
        Assert.Null(daemon.Find("example.com/app:1"));
    }

    [Fact]
    public async Task Gc_RemovesWhatNoImageUses_AndKeepsLayersContainersUse()
    {
        StoredImage keep = await Import([BaseLayer, AppLayer], "example.com/keep:1");
        StoredImage gone = await Import([BaseLayer, ToolLayer], "example.com/gone:1");
        _store.Remove(gone.Id);

        // A container still runs on "gone": its top layer stays, its blobs (config, manifest, tars) go.
        ImageGarbage first = _store.CollectGarbage(new HashSet<string> { DigestOf(BaseLayer), DigestOf(ToolLayer) });
        Assert.False(first.Deferred);
        Assert.Equal(0, first.LayersRemoved);
        Assert.True(HasLayer(ToolLayer));
        Assert.False(HasBlob(gone.Id));
        Assert.False(HasBlob(gone.ManifestDigest));
        Assert.False(HasBlob(DigestOf(ToolLayer)));

        // The container is removed: the layer goes; the base layer stays for "keep".
        ImageGarbage second = _store.CollectGarbage(NoContainers);
        Assert.Equal(1, second.LayersRemoved);
        Assert.False(HasLayer(ToolLayer));
        Assert.True(HasLayer(BaseLayer));
        Assert.True(HasLayer(AppLayer));
        foreach (string blob in new[] { keep.Id, keep.ManifestDigest, DigestOf(BaseLayer), DigestOf(AppLayer) })
            Assert.True(HasBlob(blob), blob);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_root, "tmp")));

        // "keep" still works, and a re-import of "gone" unpacks its layer again.
        Assert.Equal(keep.Id, _store.Find("example.com/keep:1")!.Id);
        StoredImage back = await Import([BaseLayer, ToolLayer], "example.com/gone:1");
        Assert.Equal("tool\n", File.ReadAllText(Path.Combine(_store.LowerDirs(back)[0], "tool")));
    }

    [Fact]
    public async Task Gc_WaitsWhileAnImportIsInFlight()
    {
        StoredImage gone = await Import([ToolLayer], "example.com/gone:1");
        _store.Remove(gone.Id);

        // An import elsewhere (another thread, or `jailshim image import`) has written blobs but no record yet.
        using (new ImageStore(_root).BeginWrite())
        {
            ImageGarbage deferred = _store.CollectGarbage(NoContainers);
            Assert.True(deferred.Deferred);
            Assert.True(HasLayer(ToolLayer));
        }
        Assert.Equal(1, _store.CollectGarbage(NoContainers).LayersRemoved);
        Assert.False(HasLayer(ToolLayer));
    }
}
