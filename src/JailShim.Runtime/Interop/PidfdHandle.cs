using Microsoft.Win32.SafeHandles;

namespace JailShim.Runtime.Interop;

/// <summary>A pidfd: names one process for good, even after its pid is reused.</summary>
public sealed class PidfdHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public PidfdHandle(int fd) : base(ownsHandle: true) => SetHandle(fd);

    protected override bool ReleaseHandle() => Tmds.Linux.LibC.close((int)handle) == 0;
}
