using System.Runtime.InteropServices;
using JailShim.Runtime.Interop;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Images;

/// <summary>
/// An flock(2) on a lock file, held until disposed. flock locks belong to an
/// open file description, so every holder opens its own fd: two threads, two
/// store objects or two processes (the daemon and <c>jailshim image import</c>)
/// all exclude each other the same way, and a crashed holder's lock goes with it.
/// </summary>
internal sealed unsafe class FileLock : IDisposable
{
    private int _fd;

    private FileLock(int fd) => _fd = fd;

    /// <summary>Waits for the lock.</summary>
    public static FileLock Acquire(string path, bool exclusive) =>
        TryTake(path, exclusive ? MissingCalls.LockEx : MissingCalls.LockSh)
        ?? throw new InvalidOperationException("a blocking flock cannot be refused");

    /// <summary>Null when someone else holds a conflicting lock.</summary>
    public static FileLock? TryAcquire(string path, bool exclusive) =>
        TryTake(path, (exclusive ? MissingCalls.LockEx : MissingCalls.LockSh) | MissingCalls.LockNb);

    /// <summary>Opens the lock file (made on first use) and locks it; the fd is CLOEXEC so no child inherits the lock.</summary>
    internal static int OpenLockFile(string path)
    {
        fixed (byte* p = NoFollowWalk.Z(path))
        {
            int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0x180);
            if (fd < 0) throw new ErrnoException("open", Marshal.GetLastPInvokeError(), path);
            return fd;
        }
    }

    /// <summary>flock that retries EINTR; false only for a LOCK_NB attempt that met a conflicting lock.</summary>
    internal static bool Lock(int fd, int operation, string path)
    {
        while (MissingCalls.Flock(fd, operation) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR) continue;
            if (errno == EWOULDBLOCK) return false;
            throw new ErrnoException("flock", errno, path);
        }
        return true;
    }

    private static FileLock? TryTake(string path, int operation)
    {
        int fd = OpenLockFile(path);
        try
        {
            if (Lock(fd, operation, path)) return new FileLock(fd);
        }
        catch
        {
            close(fd);
            throw;
        }
        close(fd);
        return null;
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) close(fd); // closing the last fd of the description drops the lock
    }
}
