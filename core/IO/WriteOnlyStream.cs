namespace Belay.Core.IO;

/// <summary>
/// A stream that is only written to (a hashing sink, a line prefixer, a live tail, a counter):
/// it cannot be read, sought or measured, and has nothing of its own to flush unless it says so.
/// A subclass writes with <see cref="Stream.Write(byte[], int, int)"/> and, where it has a faster
/// or asynchronous form, the span and memory overloads.
/// </summary>
public abstract class WriteOnlyStream : Stream
{
    public sealed override bool CanRead => false;
    public sealed override bool CanSeek => false;
    public sealed override bool CanWrite => true;
    public sealed override long Length => throw new NotSupportedException();

    public sealed override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public sealed override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public sealed override void SetLength(long value) => throw new NotSupportedException();
}
