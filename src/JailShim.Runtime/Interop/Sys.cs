using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Interop;

/// <summary>
/// The engine's door to the kernel: thin wrappers that take strings, return
/// handles, and turn a failure into an <see cref="ErrnoException"/>.
/// </summary>
public static unsafe class Sys
{
    public static string StrError(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    private static byte[] Z(string s) => Encoding.UTF8.GetBytes(s + "\0");

    /// <summary>Writes a whole value to a kernel file (cgroupfs, procfs) with one write(2).</summary>
    public static void WriteKernelFile(string path, string value)
    {
        fixed (byte* p = Z(path))
        {
            int fd = open(p, O_WRONLY | O_CLOEXEC, 0);
            if (fd < 0) throw new ErrnoException("open", Marshal.GetLastPInvokeError(), path);
            try
            {
                byte[] data = Encoding.ASCII.GetBytes(value);
                fixed (byte* d = data)
                {
                    long n = write(fd, d, data.Length);
                    if (n < 0) throw new ErrnoException("write", Marshal.GetLastPInvokeError(), $"{path} <- '{value}'");
                    if (n != data.Length) throw new ErrnoException("write", EIO, $"{path}: short write");
                }
            }
            finally { close(fd); }
        }
    }

    /// <summary>Bind-mounts a file or directory (used to pin namespaces).</summary>
    public static void BindMount(string source, string target)
    {
        fixed (byte* s = Z(source))
        fixed (byte* t = Z(target))
        {
            if (mount(s, t, null, (ulong_t)(ulong)MS_BIND, null) != 0)
                throw new ErrnoException("mount", Marshal.GetLastPInvokeError(), $"{source} -> {target}");
        }
    }

    /// <summary>Detaches a mount; a target that is not mounted (EINVAL) or gone (ENOENT) is fine.</summary>
    public static void Unmount(string target)
    {
        fixed (byte* t = Z(target))
        {
            if (umount2(t, MNT_DETACH) == 0) return;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EINVAL || errno == ENOENT) return;
            throw new ErrnoException("umount", errno, target);
        }
    }

    /// <summary>Sends a signal to a process; a process that is already gone is fine.</summary>
    public static void Kill(int pid, int signal)
    {
        if (pid <= 0) throw new ArgumentOutOfRangeException(nameof(pid));
        if (kill(pid, signal) == 0) return;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == ESRCH) return;
        throw new ErrnoException("kill", errno, $"pid {pid}");
    }

    /// <summary>Opens a pidfd, so a process can be signalled and watched without pid reuse races.</summary>
    public static PidfdHandle OpenPidfd(int pid)
    {
        int fd = MissingCalls.PidfdOpen(pid, 0);
        if (fd < 0) throw new ErrnoException("pidfd_open", Marshal.GetLastPInvokeError(), $"pid {pid}");
        return new PidfdHandle(fd);
    }

    /// <summary>Signals through a pidfd; a process that already exited is fine.</summary>
    public static void SignalPidfd(PidfdHandle pidfd, int signal)
    {
        if (MissingCalls.PidfdSendSignal((int)pidfd.DangerousGetHandle(), signal) == 0) return;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == ESRCH) return;
        throw new ErrnoException("kill", errno);
    }

    /// <summary>Blocks until the process behind the pidfd exits, or the timeout (ms) passes. Call off the async path.</summary>
    public static bool WaitPidfd(PidfdHandle pidfd, int timeoutMs)
    {
        pollfd pfd = new() { fd = (int)pidfd.DangerousGetHandle(), events = POLLIN };
        while (true)
        {
            int r = poll(&pfd, 1, timeoutMs);
            if (r > 0) return true;
            if (r == 0) return false;
            int errno = Marshal.GetLastPInvokeError();
            if (errno != EINTR) throw new ErrnoException("poll", errno);
        }
    }
}
