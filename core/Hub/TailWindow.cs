namespace Belay.Core.Hub;

/// <summary>One piece of a tail to send: data at <see cref="Offset"/>, or a skip of <see cref="Length"/> bytes.</summary>
public readonly record struct TailPiece(bool IsSkip, long Offset, int Start, long Length);

/// <summary>
/// The credit window of one live tail (DESIGN.md: 64 KiB to start), as a pure function of the
/// bytes read from the log and the credit the reader returned. It decides what to send and what
/// to drop, so that a slow reader never blocks a program or its log pump: the log is read from
/// its file whatever the reader does, and what there is no credit for is dropped here.
/// <list type="bullet">
/// <item>What was read is sent while it fits in the credit (a last line without its line break
/// too: a prompt or a progress bar must show at once). When it does not fit, the whole lines that
/// fit are sent and the first line that does not is dropped, and so is every line after it until
/// credit returns: after a gap the reader always resumes at the start of a line. A line longer than
/// the whole initial window is sent in window-sized pieces (there would never be credit for it
/// otherwise).</item>
/// <item>Offsets count every byte of the stream, sent or dropped, so a reader can tell where a
/// gap is and resume at a byte offset.</item>
/// <item>Drops are reported as one skip per run, just before the next data (or when
/// <see cref="TakeSkip"/> is called on a timer), not one per dropped line.</item>
/// </list>
/// The bytes given to <see cref="Accept"/> must be complete UTF-8 (the caller carries an
/// incomplete last character over to the next read); offsets and credit count those bytes.
/// </summary>
public sealed class TailWindow
{
    private readonly long _window;
    private readonly long _maxCredit;
    private bool _dropping;

    public TailWindow(long initialCredit = HubMessages.InitialCredit, long maxCredit = 4 * HubMessages.InitialCredit)
    {
        _window = Math.Max(1, initialCredit);
        _maxCredit = Math.Max(_window, maxCredit);
        Credit = _window;
    }

    /// <summary>Bytes the agent may still send.</summary>
    public long Credit { get; private set; }

    /// <summary>The offset of the next byte read from the log.</summary>
    public long Offset { get; private set; }

    /// <summary>Dropped bytes not reported yet.</summary>
    public long PendingSkip { get; private set; }

    /// <summary>All bytes dropped since the start.</summary>
    public long Dropped { get; private set; }

    /// <summary>The reader took more: credit grows, but never past the cap (a hostile hub cannot make the agent buffer more).</summary>
    public void AddCredit(long bytes)
    {
        if (bytes > 0)
        {
            Credit = Math.Min(_maxCredit, Credit + bytes);
        }
    }

    /// <summary>Reports the pending skip (and clears it); 0 when nothing was dropped since the last report.</summary>
    public long TakeSkip()
    {
        var skip = PendingSkip;
        PendingSkip = 0;
        return skip;
    }

    /// <summary>
    /// Takes the next bytes of the log and returns what to send, in stream order: data pieces (as
    /// ranges of <paramref name="chunk"/>) and, before the first data after a drop, the skip.
    /// </summary>
    public List<TailPiece> Accept(ReadOnlySpan<byte> chunk)
    {
        var pieces = new List<TailPiece>();
        var pos = 0;
        while (pos < chunk.Length)
        {
            if (_dropping)
            {
                var newline = chunk[pos..].IndexOf((byte)'\n');
                var end = newline < 0 ? chunk.Length : pos + newline + 1;
                Drop(end - pos);
                pos = end;
                if (newline >= 0)
                {
                    _dropping = false;
                }
                continue;
            }
            var remaining = chunk.Length - pos;
            if (remaining <= Credit)
            {
                Send(pieces, pos, remaining);
                break;
            }
            var room = (int)Math.Min(Credit, remaining);
            var lastNewline = room == 0 ? -1 : chunk.Slice(pos, room).LastIndexOf((byte)'\n');
            if (lastNewline >= 0)
            {
                Send(pieces, pos, lastNewline + 1);
                pos += lastNewline + 1;
                _dropping = true; // the next line does not fit: drop it, and the ones after, until credit returns
                continue;
            }
            // No whole line fits. A line longer than the window itself goes in window-sized
            // pieces once the full window is there; otherwise the line is dropped.
            var lineEnd = chunk[pos..].IndexOf((byte)'\n');
            var lineLength = lineEnd < 0 ? remaining : lineEnd + 1;
            if (lineLength > _window && Credit >= _window)
            {
                var piece = Utf8Boundary(chunk.Slice(pos, (int)Math.Min(_window, remaining)));
                Send(pieces, pos, piece);
                pos += piece;
                continue;
            }
            _dropping = true;
        }
        return pieces;
    }

    /// <summary>
    /// The opening tail (the last N lines): when it does not fit in the credit, its oldest lines
    /// are the ones dropped, since the newest are what a reader opening a log wants to see.
    /// </summary>
    public List<TailPiece> AcceptLatest(ReadOnlySpan<byte> chunk)
    {
        if (chunk.Length <= Credit || _dropping)
        {
            return Accept(chunk);
        }
        // Start at the first line that begins within the last Credit bytes.
        var from = chunk.Length - (int)Credit;
        var newline = chunk[(from - 1)..].IndexOf((byte)'\n');
        var start = newline < 0 ? chunk.Length : from - 1 + newline + 1;
        Drop(start);
        var pieces = Accept(chunk[start..]);
        for (var i = 0; i < pieces.Count; i++)
        {
            pieces[i] = pieces[i] with { Start = pieces[i].Start + (pieces[i].IsSkip ? 0 : start) };
        }
        return pieces; // when nothing fitted, the skip goes out with the next data or by TakeSkip
    }

    private void Send(List<TailPiece> pieces, int start, int length)
    {
        if (length <= 0)
        {
            return;
        }
        if (PendingSkip > 0)
        {
            pieces.Add(new TailPiece(true, Offset - PendingSkip, 0, PendingSkip));
            PendingSkip = 0;
        }
        pieces.Add(new TailPiece(false, Offset, start, length));
        Offset += length;
        Credit -= length;
    }

    private void Drop(int length)
    {
        Offset += length;
        PendingSkip += length;
        Dropped += length;
    }

    /// <summary>The longest prefix that does not end inside a UTF-8 character (at least one byte).</summary>
    private static int Utf8Boundary(ReadOnlySpan<byte> bytes) => Math.Max(1, HubMessages.CompleteUtf8Length(bytes));
}
