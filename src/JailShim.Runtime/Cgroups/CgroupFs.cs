using System.Runtime.InteropServices;
using System.Text;
using JailShim.Runtime.Interop;
using static Tmds.Linux.LibC;

namespace JailShim.Runtime.Cgroups;

/// <summary>
/// The few cgroupfs operations the drivers use. Writes go through <see cref="Sys.WriteKernelFile"/>
/// (one write(2), no create, no truncate). mkdir, rmdir and write are virtual only so tests can
/// stand in for the kernel over a plain temp dir, where mkdir makes no interface files.
/// </summary>
internal class CgroupFs
{
    public static CgroupFs Kernel { get; } = new();

    /// <summary>
    /// mkdir of one level (never the parents, so nothing appears outside the driver root).
    /// Returns false when the directory already existed (a retried or racing create).
    /// </summary>
    public virtual unsafe bool MakeDirectory(string path)
    {
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0"))
        {
            if (mkdir(p, 0x1ed /* 0755 */) == 0) return true;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EEXIST && Directory.Exists(path)) return false;
            throw new ErrnoException("mkdir", errno, path);
        }
    }

    /// <summary>rmdir; returns 0 or the errno.</summary>
    public virtual unsafe int RemoveDirectory(string path)
    {
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0"))
            return rmdir(p) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    public virtual void Write(string path, string value) => Sys.WriteKernelFile(path, value);

    /// <summary>The file's text, or null when the file (or its cgroup) does not exist.</summary>
    public string? TryRead(string path)
    {
        try { return File.ReadAllText(path); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    /// <summary>The file's trimmed text; throws when it is missing.</summary>
    public string Read(string path) => File.ReadAllText(path).Trim();

    /// <summary>
    /// Removes a leaf cgroup. The kernel frees a cgroup a moment after its last process exits,
    /// so EBUSY is retried until <paramref name="timeout"/>; missing is fine.
    /// </summary>
    public void RemoveLeaf(string path, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        int delayMs = 5;
        while (true)
        {
            int errno = RemoveDirectory(path);
            if (errno == 0 || errno == ENOENT) return;
            if (errno != EBUSY || DateTime.UtcNow >= deadline)
                throw new ErrnoException("rmdir", errno, $"{path}{BusyDetail(path)}");
            Thread.Sleep(delayMs);
            delayMs = Math.Min(delayMs * 2, 100);
        }
    }

    /// <summary>Undoes a failed create: removes the directories it made, newest first, ignoring errors.</summary>
    public void RemoveCreated(IEnumerable<string> createdInOrder)
    {
        foreach (string dir in createdInOrder.Reverse())
            RemoveDirectory(dir);
    }

    // Says why a cgroup is busy: child cgroups (remove them first) or live processes.
    private string BusyDetail(string path)
    {
        try
        {
            string[] children = Directory.GetDirectories(path).Select(Path.GetFileName).OfType<string>().ToArray();
            if (children.Length > 0) return $" still has child cgroups ({string.Join(", ", children)}); remove them first";
            string procs = (TryRead(Path.Join(path, "cgroup.procs")) ?? "").Trim().Replace('\n', ' ');
            if (procs.Length > 0) return $" still holds processes ({procs})";
        }
        catch (IOException) { }
        return "";
    }
}
