namespace JailShim.Runtime.Images.Registry;

/// <summary>
/// One piece of work per key at a time, shared by everyone who asks for that key while it runs
/// (two pulls of one image download each blob once). The work runs on its own token, cancelled
/// only when every waiter has given up, so one client hanging up does not fail another's pull.
/// </summary>
internal sealed class SingleFlight<TKey, TResult> where TKey : notnull
{
    private sealed class Flight
    {
        public readonly CancellationTokenSource Cancel = new();
        public Task<TResult> Task = null!;
        public int Waiters;
    }

    private readonly Dictionary<TKey, Flight> _flights = [];
    private readonly Lock _gate = new();

    /// <summary>How many keys are in flight now (for tests and diagnostics).</summary>
    public int Count { get { lock (_gate) return _flights.Count; } }

    public async Task<TResult> RunAsync(TKey key, Func<CancellationToken, Task<TResult>> work, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        Flight flight;
        lock (_gate)
        {
            // A flight whose waiters all left is being cancelled: never join it, start afresh.
            if (!_flights.TryGetValue(key, out flight!) || flight.Cancel.IsCancellationRequested)
            {
                var started = new Flight();
                started.Task = Start(key, started, work);
                _flights[key] = started;
                flight = started;
            }
            flight.Waiters++;
        }
        bool left = false;
        try
        {
            return await flight.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            bool last;
            lock (_gate)
            {
                left = true;
                last = --flight.Waiters == 0 && !flight.Task.IsCompleted;
                if (last) flight.Cancel.Cancel();
            }
            // The last one out waits for the work to wind down, so a caller that cleans up after a
            // failure never races a download or unpack still finishing in the background.
            if (last)
            {
                try { await flight.Task.ConfigureAwait(false); }
                catch (Exception) { /* the caller's own cancellation is what it reports */ }
            }
            throw;
        }
        finally
        {
            if (!left)
                lock (_gate) flight.Waiters--;
        }
    }

    private Task<TResult> Start(TKey key, Flight flight, Func<CancellationToken, Task<TResult>> work)
    {
        CancellationToken token = flight.Cancel.Token;
        return Task.Run(async () =>
        {
            try
            {
                return await work(token).ConfigureAwait(false);
            }
            finally
            {
                lock (_gate)
                {
                    if (_flights.TryGetValue(key, out Flight? current) && current == flight) _flights.Remove(key);
                }
                // The source is not disposed: a waiter leaving at this moment may still cancel it (a plain source holds nothing to free).
            }
        }, CancellationToken.None);
    }
}
