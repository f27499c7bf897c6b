using System.Formats.Tar;
using System.Text.Json.Nodes;

namespace JailShim.Conformance;

/// <summary>
/// Two registries (one plain, one behind basic auth) and a daemon whose --config mirrors
/// docker.io to the plain one; the daemon's own base layer, gzipped, for images that must run.
/// </summary>
public sealed class ImagePullFixture : IAsyncLifetime
{
    public const string User = "puller";
    public const string Password = "s3cret-Pa55";

    private Registry? _plain, _auth;
    private Daemon? _daemon;

    public Registry Plain => _plain ?? throw new InvalidOperationException("the registry did not start");
    public Registry Auth => _auth ?? throw new InvalidOperationException("the auth registry did not start");
    public Daemon Daemon => _daemon ?? throw new InvalidOperationException("the daemon did not start");
    public string WorkDir { get; } = Directory.CreateTempSubdirectory("jst-pull-").FullName;

    /// <summary>The base image's layer (sh, ls, cat, ...) as a gzip layer: the bottom of every image a test runs.</summary>
    public TestLayer BaseLayer { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _plain = await Registry.StartAsync();
        _auth = await Registry.StartAsync((User, Password));
        string config = Path.Combine(WorkDir, "jailshim.json");
        await File.WriteAllTextAsync(config, new JsonObject
        {
            ["registries"] = new JsonArray(
                new JsonObject { ["host"] = "docker.io", ["mirrors"] = new JsonArray($"http://{Plain.Host}") }),
        }.ToJsonString());
        _daemon = await Daemon.StartAsync(extraArgs: ["--config", config]);
        BaseLayer = TestLayer.Gzip(await BaseLayerTarAsync());
    }

    /// <summary>A fresh OCI layout dir for one test's images.</summary>
    public ImagePullImages NewLayout() => new(Path.Combine(WorkDir, "layout-" + Guid.NewGuid().ToString("N")[..8]));

    /// <summary>The base image's one layer tar, read from the daemon's store (its blob, or its unpacked dir re-tarred).</summary>
    private async Task<byte[]> BaseLayerTarAsync()
    {
        string store = Path.Combine(Daemon.Root, "images");
        string layer = Directory.EnumerateDirectories(Path.Combine(store, "layers", "sha256")).Single();
        string blob = Path.Combine(store, "blobs", "sha256", Path.GetFileName(layer));
        if (File.Exists(blob)) return await File.ReadAllBytesAsync(blob);
        using var tar = new MemoryStream();
        await TarFile.CreateFromDirectoryAsync(Path.Combine(layer, "fs"), tar, includeBaseDirectory: false);
        return tar.ToArray();
    }

    public async Task DisposeAsync()
    {
        if (_daemon is not null) await _daemon.DisposeAsync();
        if (_plain is not null) await _plain.DisposeAsync();
        if (_auth is not null) await _auth.DisposeAsync();
        Directory.Delete(WorkDir, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class ImagePullCollection : ICollectionFixture<ImagePullFixture>
{
    public const string Name = "image-pull";
}
