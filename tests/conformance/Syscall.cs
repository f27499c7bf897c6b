using System.Runtime.InteropServices;

namespace JailShim.Conformance;

/// <summary>The two libc calls the tests need to act like an operator: signal a process, detach a mount.</summary>
internal static partial class Syscall
{
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Umount2(string target, int flags);
}
