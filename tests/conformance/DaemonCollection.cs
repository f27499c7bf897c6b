namespace JailShim.Conformance;

/// <summary>One daemon shared by the tests of a collection (start-up builds the base image once).</summary>
public sealed class DaemonFixture : IAsyncLifetime
{
    private Daemon? _daemon;

    public Daemon Daemon => _daemon ?? throw new InvalidOperationException("the daemon did not start");

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync()
    {
        if (_daemon is not null) await _daemon.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class DaemonCollection : ICollectionFixture<DaemonFixture>
{
    public const string Name = "daemon";
}
