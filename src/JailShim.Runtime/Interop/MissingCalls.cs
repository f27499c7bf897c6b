using System.Runtime.InteropServices;

namespace JailShim.Runtime.Interop;

/// <summary>The libc calls Tmds.LibC lacks, declared here and nowhere else.</summary>
internal static partial class MissingCalls
{
    private const long SysPidfdOpen = 434;
    private const long SysPidfdSendSignal = 424;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall2(long number, long a, long b);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall4(long number, long a, long b, long c, long d);

    public static int PidfdOpen(int pid, uint flags) => (int)Syscall2(SysPidfdOpen, pid, flags);

    public static int PidfdSendSignal(int pidfd, int signal) => (int)Syscall4(SysPidfdSendSignal, pidfd, signal, 0, 0);

    public const int LockSh = 1, LockEx = 2, LockNb = 4, LockUn = 8;

    /// <summary>flock(2): a lock on the open file description, so two fds (even in one process) exclude each other.</summary>
    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "lsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int LSetXattr(string path, string name, byte[] value, nuint size, int flags);
}
