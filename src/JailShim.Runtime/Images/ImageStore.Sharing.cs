using System.Text;
using JailShim.Runtime.Interop;
using Microsoft.Extensions.Logging;

namespace JailShim.Runtime.Images;

/// <summary>
/// Sharing one store root between processes: the daemon and <c>jailshim image import</c>
/// run at the same time on the same root. Four small files under the root do it:
/// <list type="bullet">
/// <item><c>lock</c>: flock held exclusively around every change to the index and around garbage collection.</item>
/// <item><c>writers.lock</c>: flock held shared by every import from its first blob until its record is written;
/// garbage collection runs only when it can take it exclusively, so it never takes blobs or layers an import
/// has written but not yet recorded (it is then skipped, and the next collection catches up).</item>
/// <item><c>open.lock</c>: flock held shared by every process with the store open; tmp/ is wiped at open only by
/// a process that can take it exclusively, i.e. when nobody else may be writing there.</item>
/// <item><c>generation</c>: a new random value after every index change. Readers compare it on each
/// List/Find (one small read) and reload the records when it changed, so an import by another process
/// shows up at once.</item>
/// </list>
/// </summary>
public sealed partial class ImageStore
{
    /// <summary>The records as of one generation of the index.</summary>
    private sealed record Snapshot(Dictionary<string, ImageRecord> Records, string Generation);

    // One open.lock fd per root per process, kept for the life of the process: flock locks of two fds
    // conflict even within one process, so a second store object on the same root reuses this one.
    private static readonly Dictionary<string, int> OpenLockFds = new(StringComparer.Ordinal);

    private string GenerationPath => Path.Combine(Root, "generation");

    /// <summary>The current records, reloaded from disk when another process (or store object) changed them.</summary>
    private Snapshot Current()
    {
        Snapshot snapshot = _snapshot;
        string generation = ReadGeneration();
        if (generation == snapshot.Generation) return snapshot;
        // Read the generation before the records: a change that lands meanwhile bumps it again and is loaded next time.
        var fresh = new Snapshot(Load(), generation);
        _snapshot = fresh;
        return fresh;
    }

    private string ReadGeneration()
    {
        try { return File.ReadAllText(GenerationPath); }
        catch (FileNotFoundException) { return ""; }
    }

    /// <summary>Makes <paramref name="records"/> the current index and tells other processes. Call with the index lock held.</summary>
    private void Publish(Dictionary<string, ImageRecord> records)
    {
        string generation = Guid.NewGuid().ToString("N");
        AtomicFile.Write(GenerationPath, Encoding.ASCII.GetBytes(generation), TempDir);
        _snapshot = new Snapshot(records, generation);
    }

    /// <summary>The exclusive index lock. Take <c>_gate</c> first, then this.</summary>
    private FileLock LockIndex() => FileLock.Acquire(Path.Combine(Root, "lock"), exclusive: true);

    /// <summary>
    /// Held by a writer from its first blob until its record is written (or it gave up):
    /// garbage collection leaves the store alone meanwhile. Every path that adds blobs
    /// or layers (imports, pulls) holds one.
    /// </summary>
    internal FileLock BeginWrite() => FileLock.Acquire(Path.Combine(Root, "writers.lock"), exclusive: false);

    /// <summary>Exclusive hold on the writers lock, or null while any import is in flight.</summary>
    private FileLock? TryExcludeWriters() => FileLock.TryAcquire(Path.Combine(Root, "writers.lock"), exclusive: true);

    /// <summary>Marks the store open by this process; true when no other process has it open (so tmp/ is ours to wipe).</summary>
    private bool TakeOpenLock()
    {
        string path = Path.Combine(Root, "open.lock");
        lock (OpenLockFds)
        {
            if (!OpenLockFds.TryGetValue(Root, out int fd))
                OpenLockFds[Root] = fd = FileLock.OpenLockFile(path);
            bool alone = FileLock.Lock(fd, MissingCalls.LockEx | MissingCalls.LockNb, path);
            // Back to shared: a refused upgrade may also have dropped the shared lock (flock conversion is not atomic).
            FileLock.Lock(fd, MissingCalls.LockSh, path);
            if (!alone) _logger.LogInformation("image store {Root} is open in another process: leaving tmp/ alone", Root);
            return alone;
        }
    }

    /// <summary>
    /// After a failed import: removes the blobs it touched and the layers it unpacked that no image
    /// uses. Only when no other import is in flight (one may be about to record the same layer);
    /// otherwise they stay for the next garbage collection. Never throws: the import's own error matters.
    /// </summary>
    private void DropUnreferenced(IReadOnlyList<string> blobs, IReadOnlyList<string> layers)
    {
        if (blobs.Count == 0 && layers.Count == 0) return;
        try
        {
            lock (_gate)
            using (LockIndex())
            {
                using FileLock? alone = TryExcludeWriters();
                if (alone is null) return;
                Dictionary<string, ImageRecord> records = Current().Records;
                var usedBlobs = records.Values.SelectMany(r => r.Blobs()).ToHashSet();
                var usedLayers = records.Values.SelectMany(r => r.LayerDiffIds).ToHashSet();
                foreach (string blob in blobs.Where(b => !usedBlobs.Contains(b))) _blobs.Remove(blob);
                foreach (string layer in layers.Where(l => !usedLayers.Contains(l))) _layers.Remove(layer);
            }
        }
        catch (Exception e)
        {
            _logger.LogWarning("image store: could not clean up after a failed import: {Error}", e.Message);
        }
    }
}
