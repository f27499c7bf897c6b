namespace JailShim.Runtime.Cgroups;

/// <summary>
/// One seam for cgroup v1 and v2. Every path handed in is relative to the
/// driver's root (the daemon's own cgroup + "/jailshim"; "" is the root itself);
/// "." and ".." are refused, so the driver never touches anything outside that root.
/// Pick one with <see cref="CgroupDriverProbe.Detect(string, string, string)"/>.
/// </summary>
public interface ICgroupDriver
{
    /// <summary>"v1" or "v2".</summary>
    string Kind { get; }

    /// <summary>
    /// Creates the cgroup (and missing parents below the root) and applies the limits. Idempotent:
    /// an existing cgroup just gets the limits. On failure, the directories it made are removed.
    /// On v2 the parents get controllers enabled, so processes may only live in leaves.
    /// </summary>
    Cgroup Create(string relativePath, CgroupLimits limits);

    /// <summary>The cgroup.procs files a process writes its pid into to join (one per hierarchy on v1).</summary>
    IReadOnlyList<string> ProcsFiles(string relativePath);

    /// <summary>Pids now in the cgroup (empty when it does not exist).</summary>
    IReadOnlyList<int> Pids(string relativePath);

    /// <summary>True when the kernel OOM-killed a process in this cgroup.</summary>
    bool WasOomKilled(string relativePath);

    /// <summary>
    /// Reads the limits the kernel holds (for status and tests): -1 is unlimited, null is a missing
    /// controller; v2 shares are the smallest value mapping to the weight. Throws
    /// <see cref="DirectoryNotFoundException"/> when the cgroup does not exist.
    /// </summary>
    CgroupLimits ReadLimits(string relativePath);

    /// <summary>
    /// Removes the cgroup; it must hold no processes and no child cgroups (remove leaf first).
    /// Retries EBUSY briefly, since the kernel frees a cgroup a moment after its last process
    /// exits, then throws an <see cref="Interop.ErrnoException"/> saying why. Missing is fine.
    /// </summary>
    void Remove(string relativePath);

    /// <summary>True when the cgroup exists (on v1: in any hierarchy, so a half-made one is found).</summary>
    bool Exists(string relativePath);
}
