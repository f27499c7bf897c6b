using System.Net.Http.Headers;
using JailShim.Runtime.Images.Registry;

namespace JailShim.Runtime.Tests.Images;

/// <summary>The registry client's pure parts: challenges, endpoint and scheme rules, credentials, platform choice, single flight.</summary>
public sealed class RegistryTests
{
    [Fact]
    public void BearerChallengeParametersAreParsedWithQuotedCommas()
    {
        var challenge = AuthChallenge.Parse(new AuthenticationHeaderValue("Bearer",
            "realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/busybox:pull,push\",error=insufficient_scope"));
        Assert.True(challenge.IsBearer);
        Assert.Equal("https://auth.docker.io/token", challenge["realm"]);
        Assert.Equal("registry.docker.io", challenge["service"]);
        Assert.Equal("repository:library/busybox:pull,push", challenge["scope"]);
        Assert.Equal("insufficient_scope", challenge["error"]);
        Assert.Equal("x\"y", AuthChallenge.ParseParameters("Realm=\"x\\\"y\"")["realm"]);
    }

    [Theory]
    [InlineData("127.0.0.1:5000", true)]
    [InlineData("127.9.8.7", true)]
    [InlineData("localhost:5000", true)]
    [InlineData("[::1]:5000", true)]
    [InlineData("10.0.0.1:5000", false)]
    [InlineData("docker.io", false)]
    [InlineData("localhost.example.com", false)]
    public void OnlyLoopbackIsLoopback(string host, bool loopback) => Assert.Equal(loopback, RegistryHosts.IsLoopback(host));

    [Fact]
    public void EndpointsAreMirrorsInOrderThenTheRegistryOverHttps()
    {
        var hosts = new RegistryHosts([
            new RegistryHostConfig { Host = "docker.io", Mirrors = ["http://127.0.0.1:5000", "mirror.example.com"] },
            new RegistryHostConfig { Host = "intranet:5000", Insecure = true, Username = "u", Password = "p" },
        ]);
        var endpoints = hosts.EndpointsFor("docker.io", null);
        Assert.Equal(["http://127.0.0.1:5000/", "https://mirror.example.com/", "https://registry-1.docker.io/"],
            endpoints.Select(e => e.BaseUri.ToString()));
        Assert.Equal([true, true, false], endpoints.Select(e => e.IsMirror));

        RegistryEndpoint insecure = Assert.Single(hosts.EndpointsFor("intranet:5000", null));
        Assert.Equal("http://intranet:5000/", insecure.BaseUri.ToString());
        Assert.Equal("u", insecure.Credentials?.Username);
        Assert.Equal("https://ghcr.io/", Assert.Single(hosts.EndpointsFor("ghcr.io", null)).BaseUri.ToString());
        Assert.Equal("http://127.0.0.1:5000/", Assert.Single(hosts.EndpointsFor("127.0.0.1:5000", null)).BaseUri.ToString());
    }

    [Theory]
    [InlineData("http://10.0.0.5:5000", "plain HTTP")]
    [InlineData("ftp://127.0.0.1", "not an http")]
    [InlineData("https://mirror.example.com/v2/proxy", "without a path")]
    public void BadMirrorsAreRefused(string mirror, string message)
    {
        var e = Assert.Throws<FormatException>(() => new RegistryHosts([new RegistryHostConfig { Host = "docker.io", Mirrors = [mirror] }]));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void PlainHttpMirrorIsFineWhenItsHostIsMarkedInsecure()
    {
        var hosts = new RegistryHosts([
            new RegistryHostConfig { Host = "docker.io", Mirrors = ["http://10.0.0.5:5000"] },
            new RegistryHostConfig { Host = "10.0.0.5:5000", Insecure = true },
        ]);
        Assert.Equal("http://10.0.0.5:5000/", hosts.EndpointsFor("docker.io", null)[0].BaseUri.ToString());
    }

    [Fact]
    public void PullCredentialsGoOnlyWhereTheyAreMeant()
    {
        RegistryCredentials creds = RegistryCredentials.From(null, null, Convert.ToBase64String("alice:pw:with:colons"u8.ToArray()),
            null, null, "https://index.docker.io/v1/")!;
        Assert.Equal("alice", creds.Username);
        Assert.Equal("pw:with:colons", creds.Password);
        Assert.True(creds.AppliesTo("docker.io"));
        Assert.False(creds.AppliesTo("ghcr.io"));
        Assert.DoesNotContain("pw:with", creds.ToString());

        var hosts = new RegistryHosts([new RegistryHostConfig { Host = "docker.io", Mirrors = ["http://127.0.0.1:5000"] }]);
        var endpoints = hosts.EndpointsFor("docker.io", creds);
        Assert.Null(endpoints[0].Credentials); // the mirror is another host
        Assert.Same(creds, endpoints[1].Credentials);

        Assert.Null(RegistryCredentials.From("", "", "", "", "", ""));
        Assert.Throws<EngineException>(() => RegistryCredentials.From(null, null, "not base64!", null, null, null));
    }

    [Fact]
    public void HostPlatformIsPickedFromAList()
    {
        RegistryDescriptor Entry(string arch, string? variant = null, string os = "linux") =>
            new() { Digest = $"sha256:{arch}{variant}", Platform = new RegistryPlatform { Os = os, Architecture = arch, Variant = variant } };
        var list = new[] { Entry("arm", "v7"), Entry(HostPlatform.Architecture, os: "windows"), Entry(HostPlatform.Architecture), Entry("unknown", os: "unknown") };
        Assert.Equal($"sha256:{HostPlatform.Architecture}", HostPlatform.Pick(list)?.Digest);
        Assert.Null(HostPlatform.Pick([Entry("s390x-not-us")]));
    }

    [Theory]
    [InlineData(new byte[] { 0x1f, 0x8b, 8, 0 }, "Gzip")]
    [InlineData(new byte[] { 0x28, 0xb5, 0x2f, 0xfd }, "Zstd")]
    [InlineData(new byte[] { (byte)'e', (byte)'t', (byte)'c' }, "Tar")]
    [InlineData(new byte[0], "Tar")]
    public void LayerCompressionIsSniffed(byte[] head, string kind) => Assert.Equal(kind, LayerDecompressor.Detect(head).ToString());

    [Fact]
    public async Task SingleFlightRunsOnceForConcurrentCallers()
    {
        var flights = new SingleFlight<string, int>();
        int runs = 0;
        var gate = new TaskCompletionSource();
        async Task<int> Work(CancellationToken ct)
        {
            Interlocked.Increment(ref runs);
            await gate.Task.WaitAsync(ct);
            return 42;
        }
        Task<int>[] callers = [.. Enumerable.Range(0, 5).Select(_ => flights.RunAsync("k", Work, CancellationToken.None))];
        await Task.Delay(50);
        gate.SetResult();
        Assert.All(await Task.WhenAll(callers), r => Assert.Equal(42, r));
        Assert.Equal(1, runs);
        Assert.Equal(0, flights.Count);
    }

    [Fact]
    public async Task SingleFlightSurvivesOneCallerLeavingAndStopsWhenAllLeave()
    {
        var flights = new SingleFlight<string, int>();
        var gate = new TaskCompletionSource();
        bool workCancelled = false;
        async Task<int> Work(CancellationToken ct)
        {
            try { await gate.Task.WaitAsync(ct); return 7; }
            catch (OperationCanceledException) { workCancelled = true; throw; }
        }
        using var leaves = new CancellationTokenSource();
        Task<int> leaving = flights.RunAsync("k", Work, leaves.Token);
        Task<int> staying = flights.RunAsync("k", Work, CancellationToken.None);
        leaves.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
        gate.SetResult();
        Assert.Equal(7, await staying);
        Assert.False(workCancelled);

        var never = new TaskCompletionSource();
        using var all = new CancellationTokenSource();
        Task<int> only = flights.RunAsync("j", async ct => { try { await never.Task.WaitAsync(ct); } catch (OperationCanceledException) { workCancelled = true; throw; } return 0; }, all.Token);
        all.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => only);
        Assert.True(workCancelled); // the last one out cancelled the work and waited for it
    }
}
