using JailShim.Runtime.Images;

namespace JailShim.Runtime.Tests.Images;

/// <summary>Names normalize the way Docker and containerd spell them, so "busybox" finds what a pull of "busybox" stored.</summary>
public sealed class ImageReferenceTests
{
    private const string Hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("busybox", "docker.io/library/busybox:latest")]
    [InlineData("busybox:1.36", "docker.io/library/busybox:1.36")]
    [InlineData("library/busybox", "docker.io/library/busybox:latest")]
    [InlineData("docker.io/busybox", "docker.io/library/busybox:latest")]
    [InlineData("index.docker.io/library/busybox:1", "docker.io/library/busybox:1")]
    [InlineData("foo/bar", "docker.io/foo/bar:latest")]
    [InlineData("foo/bar/baz:v2", "docker.io/foo/bar/baz:v2")]
    [InlineData("jailshim.local/base", "jailshim.local/base:latest")]
    [InlineData("jailshim.local/base:latest", "jailshim.local/base:latest")]
    [InlineData("localhost/app", "localhost/app:latest")]
    [InlineData("localhost:5000/app:dev", "localhost:5000/app:dev")]
    [InlineData("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10")]
    [InlineData("ghcr.io/a_b/c-d.e:1.0-rc_1", "ghcr.io/a_b/c-d.e:1.0-rc_1")]
    [InlineData("busybox@sha256:" + Hex, "docker.io/library/busybox@sha256:" + Hex)]
    [InlineData("busybox:1@sha256:" + Hex, "docker.io/library/busybox:1@sha256:" + Hex)]
    public void Normalize_GivesTheCanonicalName(string input, string expected) =>
        Assert.Equal(expected, ImageReference.Normalize(input));

    [Fact]
    public void Parse_SplitsTheParts()
    {
        ImageReference r = ImageReference.Parse("localhost:5000/team/app:v1");
        Assert.Equal("localhost:5000", r.Domain);
        Assert.Equal("team/app", r.Path);
        Assert.Equal("localhost:5000/team/app", r.Repository);
        Assert.Equal("v1", r.Tag);
        Assert.Null(r.Digest);
    }

    [Fact]
    public void Parse_DigestWithoutTag_DoesNotAddLatest()
    {
        ImageReference r = ImageReference.Parse("busybox@sha256:" + Hex);
        Assert.Null(r.Tag);
        Assert.Equal("sha256:" + Hex, r.Digest);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Busybox")]                 // uppercase in the repository path
    [InlineData("foo//bar")]
    [InlineData("foo/")]
    [InlineData(":latest")]
    [InlineData("busybox:")]
    [InlineData("busybox:-bad")]
    [InlineData("busybox@sha256:abc")]      // short digest
    [InlineData("busybox@md5:0123")]
    [InlineData("bad name")]
    [InlineData(Hex)]                       // a full image id is not a name
    public void Parse_RefusesMalformedNames(string input)
    {
        Assert.False(ImageReference.TryParse(input, out _));
        var e = Assert.Throws<FormatException>(() => ImageReference.Parse(input));
        Assert.Contains("invalid image reference", e.Message);
    }
}
