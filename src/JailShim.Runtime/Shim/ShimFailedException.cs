using JailShim.Runtime.Interop;

namespace JailShim.Runtime.Shim;

/// <summary>jailshim-shim said "error PHASE ERRNO MESSAGE": a setup step failed and it rolled back its own part.</summary>
public sealed class ShimFailedException(string phase, int errno, string message)
    : Exception($"{phase} failed: {message} ({(errno == 0 ? "no errno" : Sys.StrError(errno))}{(errno == 0 ? "" : $", errno {errno}")})")
{
    public string Phase { get; } = phase;
    public int Errno { get; } = errno;
}
