namespace JailShim.Conformance;

/// <summary>One daemon shared by the tests of a collection (start-up builds the base image once).</summary>
public sealed class DaemonFixture : IAsyncLifetime
{
    public Daemon Daemon { get; private set; } = null!;

    public async Task InitializeAsync() => Daemon = await Daemon.StartAsync();

    public async Task DisposeAsync() => await Daemon.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class DaemonCollection : ICollectionFixture<DaemonFixture>
{
    public const string Name = "daemon";
}
