using JailShim.Runtime;
using JailShim.Runtime.Shim;

namespace JailShim.Runtime.Tests;

public sealed class ShimSpecTests
{
    [Fact]
    public void EncodesOneDirectivePerLineWithTabsAndEndsWithEnd()
    {
        string text = new ShimSpec()
            .Add("state-dir", "/var/lib/x")
            .Add("arg", "")
            .Add("arg", "-")
            .Mount("", "/r/dev", "tmpfs", "", "mode=755")
            .CharDevice("/r/dev/null", 0x1b6, 1, 3)
            .Encode();
        Assert.Equal(
            "state-dir\t/var/lib/x\narg\t\narg\t-\nop-mount\t-\t/r/dev\ttmpfs\t-\tmode=755\nop-mknod\t/r/dev/null\t20666\t1\t3\nend\n",
            text);
    }

    [Theory]
    [InlineData("a\tb")]
    [InlineData("a\nb")]
    [InlineData("a\0b")]
    [InlineData("a\rb")]
    public void RefusesFieldsThatWouldChangeTheSpec(string field)
    {
        var error = Assert.Throws<EngineException>(() => new ShimSpec().Add("arg", field));
        Assert.Equal(EngineErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("arg", error.Message);
    }

    [Fact]
    public void ParsesPhaseLines()
    {
        ShimPhase phase = ShimPhase.Parse("phase mount 1700000000000000000 1700000000000001000 2 /r/proc".Split(' '));
        Assert.Equal("mount", phase.Name);
        Assert.Equal(2, phase.Errno);
        Assert.Equal("/r/proc", phase.Detail);
        Assert.Equal(TimeSpan.FromTicks(10), phase.End - phase.Start);
    }
}
