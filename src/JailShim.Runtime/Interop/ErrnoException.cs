namespace JailShim.Runtime.Interop;

/// <summary>A failed system call: which phase, which errno, and the kernel's words for it.</summary>
public sealed class ErrnoException(string phase, int errno, string? detail = null)
    : Exception($"{phase}{(detail is null ? "" : $" {detail}")}: {Sys.StrError(errno)} (errno {errno})")
{
    public string Phase { get; } = phase;
    public int Errno { get; } = errno;
}
