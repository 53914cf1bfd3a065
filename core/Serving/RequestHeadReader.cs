namespace Belay.Core.Serving;

/// <summary>
/// Reads request heads off one connection into a fixed buffer. Bytes past the head (a
/// pipelined next request) stay for the next call. Leading empty lines are skipped
/// (RFC 9112 §2.2).
/// </summary>
internal sealed class RequestHeadReader(Stream stream, int maxHeadBytes)
{
    private readonly byte[] buffer = new byte[maxHeadBytes];
    private int start;
    private int end;
    private int consumed;

    /// <summary>True when part of a request has arrived but not its end.</summary>
    public bool HasPartialRequest => end > start;

    /// <summary>Reads until a whole head is buffered. The head stays valid until the next call.</summary>
    public async ValueTask<(HeadReadStatus Status, ReadOnlyMemory<byte> Head)> ReadAsync(CancellationToken cancellationToken)
    {
        // Drop the previous head, keep what followed it.
        start += consumed;
        consumed = 0;
        if (start > 0)
        {
            Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
            end -= start;
            start = 0;
        }
        var scanned = 0;
        while (true)
        {
            while (start < end && buffer[start] is (byte)'\r' or (byte)'\n')
            {
                start++;
            }
            var headEnd = FindHeadEnd(buffer.AsSpan(start, end - start), Math.Max(0, scanned - 2));
            if (headEnd >= 0)
            {
                consumed = headEnd;
                return (HeadReadStatus.Complete, buffer.AsMemory(start, headEnd));
            }
            scanned = end - start;
            if (start > 0)
            {
                Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                end -= start;
                start = 0;
            }
            if (end == buffer.Length)
            {
                return (HeadReadStatus.TooLarge, default);
            }
            var n = await stream.ReadAsync(buffer.AsMemory(end), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return (end == start ? HeadReadStatus.Closed : HeadReadStatus.ClosedMidRequest, default);
            }
            end += n;
        }
    }

    /// <summary>The length of the head including its empty line ("\n\n" or "\n\r\n"), or -1.</summary>
    private static int FindHeadEnd(ReadOnlySpan<byte> data, int from)
    {
        for (var i = data[from..].IndexOf((byte)'\n'); i >= 0; )
        {
            var at = from + i;
            if (at + 1 < data.Length && data[at + 1] == '\n')
            {
                return at + 2;
            }
            if (at + 2 < data.Length && data[at + 1] == '\r' && data[at + 2] == '\n')
            {
                return at + 3;
            }
            from = at + 1;
            i = data[from..].IndexOf((byte)'\n');
        }
        return -1;
    }
}

internal enum HeadReadStatus
{
    Complete,

    /// <summary>The client closed between requests: the normal end of a keep-alive connection.</summary>
    Closed,

    ClosedMidRequest,

    TooLarge,
}
