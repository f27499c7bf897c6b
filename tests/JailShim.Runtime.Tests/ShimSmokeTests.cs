using System.Diagnostics;
using System.Reflection;

namespace JailShim.Runtime.Tests;

/// <summary>
/// Runs native/smoke.sh: the C program on its own against PROTOCOL.md — the
/// monitor's log writer (P/F splitting, last line without newline), exit
/// records, the control socket, and no leftovers.
/// </summary>
public sealed class ShimSmokeTests
{
    [Fact]
    public async Task ShimPassesItsSmokeScript()
    {
        string native = typeof(ShimSmokeTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "NativeDir").Value!;
        var start = new ProcessStartInfo("/bin/sh", [Path.Combine(native, "smoke.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"smoke.sh failed ({process.ExitCode}):\n{output}\n{await stderr}");
        Assert.Contains(" 0 failed", output);
        Assert.DoesNotContain("FAIL:", output);
    }
}
