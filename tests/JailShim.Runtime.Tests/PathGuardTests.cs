using JailShim.Runtime;
using JailShim.Runtime.Pods;

namespace JailShim.Runtime.Tests;

public sealed class PathGuardTests
{
    [Theory]
    [InlineData("relative")]
    [InlineData("/a/../etc")]
    [InlineData("/a/./b")]
    [InlineData("")]
    [InlineData("/a\nb")]
    public void AbsoluteRefusesEscapes(string path) =>
        Assert.Equal(EngineErrorKind.InvalidArgument, Assert.Throws<EngineException>(() => PathGuard.Absolute("f", path)).Kind);

    [Theory]
    [InlineData("/etc/x")]
    [InlineData("../x")]
    [InlineData("a/../../x")]
    public void RelativeRefusesEscapes(string path) =>
        Assert.Throws<EngineException>(() => PathGuard.Relative("f", path));

    [Fact]
    public void AcceptsPlainPaths()
    {
        Assert.Equal("/var/log/pods/x", PathGuard.Absolute("f", "/var/log/pods/x/"));
        Assert.Equal("c/0.log", PathGuard.Relative("f", "c/0.log"));
        Assert.Equal("kubepods/burstable", PathGuard.CgroupParent("/kubepods/burstable/"));
    }

    [Fact]
    public void CapabilityNamesMapToBits()
    {
        Assert.Equal(1UL << 12, Capabilities.Bit("NET_ADMIN"));
        Assert.Equal(1UL << 12, Capabilities.Bit("cap_net_admin"));
        Assert.Equal(Capabilities.All, Capabilities.Bit("ALL"));
        Assert.Equal(0UL, Capabilities.Default & Capabilities.Bit("SYS_ADMIN"));
        Assert.NotEqual(0UL, Capabilities.Default & Capabilities.Bit("CHOWN"));
        Assert.Throws<EngineException>(() => Capabilities.Bit("NOT_A_CAP"));
    }
}
