using System.Collections.Concurrent;

namespace JailShim.Runtime.Pods;

/// <summary>One async lock per sandbox or container id, so operations on one object run one at a time.</summary>
public sealed class IdLocks
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new();

    public async Task<IDisposable> AcquireAsync(string id, CancellationToken cancellationToken)
    {
        SemaphoreSlim gate = _locks.GetOrAdd(id, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        return new Release(gate);
    }

    /// <summary>Drops the lock of an object that is gone.</summary>
    public void Forget(string id) => _locks.TryRemove(id, out _);

    private sealed class Release(SemaphoreSlim gate) : IDisposable
    {
        private int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) gate.Release();
        }
    }
}
