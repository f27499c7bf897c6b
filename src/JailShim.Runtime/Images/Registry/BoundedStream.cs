namespace JailShim.Runtime.Images.Registry;

/// <summary>
/// A read-only pass-through that fails as soon as more than <paramref name="limit"/> bytes come
/// through, so a registry cannot fill the disk or memory by sending more than a descriptor says.
/// <paramref name="onProgress"/> runs after every read that returned data (a download's idle timer).
/// </summary>
internal sealed class BoundedStream(Stream inner, long limit, Func<Exception> tooLong, Action? onProgress = null) : Stream
{
    private long _read;

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        return Count(n);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Count(int n)
    {
        _read += n;
        if (_read > limit) throw tooLong();
        if (n > 0) onProgress?.Invoke();
        return n;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _read; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
