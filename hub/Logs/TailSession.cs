using System.Text;
using Belay.Core.Hub;
using Belay.Hub.Agents;

namespace Belay.Hub.Logs;

/// <summary>One event of a live log as the hub keeps it: text at a byte offset, or a gap.</summary>
internal readonly record struct TailEvent(long Offset, long Bytes, string? Text)
{
    public bool IsSkip => Text is null;
    public long End => Offset + Bytes;
}

/// <summary>
/// The hub's side of one live tail: what the agent sent, kept in a bounded buffer for the reader
/// (the browser's SSE response), and the credit the reader gives back as it takes.
/// <list type="bullet">
/// <item>The agent may send only what it has credit for: <see cref="InitialCredit"/> to start,
/// then as much as the reader wrote out. Data past the credit is a protocol violation.</item>
/// <item>The buffer keeps the last <see cref="BufferBytes"/> bytes, so that a browser that lost its
/// connection resumes from its Last-Event-ID (a byte offset) without a gap; older bytes show as a gap.</item>
/// <item>While no reader is attached no credit goes back, so the agent drops (and reports it);
/// a session with no reader for <see cref="TailSessions.DetachedGrace"/> is closed.</item>
/// </list>
/// </summary>
internal sealed class TailSession
{
    public const long InitialCredit = HubMessages.InitialCredit;
    public const long BufferBytes = 256 * 1024;

    private readonly Lock _lock = new();
    private readonly LinkedList<TailEvent> _events = new();
    private long _buffered;
    private long _outstanding = InitialCredit;
    private long _pendingGrant;
    private TaskCompletionSource _changed = New();
    private int _readers;
    private long _base;

    public TailSession(long id, ITailUpstream agent, string program, string stream, string owner, string credentialHash, DateTimeOffset now)
    {
        Id = id;
        Agent = agent;
        Program = program;
        Stream = stream;
        Owner = owner;
        CredentialHash = credentialHash;
        OpenedAt = now;
        RenewedAt = now;
        DetachedAt = now;
    }

    public long Id { get; }

    /// <summary>Where the agent's stream comes from: its connection to this node, or another node (<see cref="Cluster.RemoteAgent"/>).</summary>
    public ITailUpstream Agent { get; private set; }
    public string HostId => Agent.HostId;
    public string Program { get; }
    public string Stream { get; }

    /// <summary>The operator who opened it, and the hash of the session or token they used (checked again after revocations).</summary>
    public string Owner { get; }
    public string CredentialHash { get; }
    public DateTimeOffset OpenedAt { get; }
    public DateTimeOffset RenewedAt { get; private set; }
    public DateTimeOffset? DetachedAt { get; private set; }
    public string? EndReason { get; private set; }
    public DateTimeOffset? EndedAt { get; private set; }
    public bool Ended => EndReason is not null;

    /// <summary>The offset after the last byte received (data or gap).</summary>
    public long NextOffset { get; private set; }

    public string Key => KeyOf(Owner, HostId, Program, Stream);

    public static string KeyOf(string owner, string hostId, string program, string stream) => $"{owner}\n{hostId}\n{program}\n{stream}";

    /// <summary>Data from the agent; false when it is past the credit the agent had (the caller closes the connection).</summary>
    public bool OnData(long offset, string text)
    {
        var bytes = Encoding.UTF8.GetByteCount(text);
        lock (_lock)
        {
            if (Ended)
            {
                return true; // late data for a stream just closed: harmless
            }
            offset += _base;
            if (bytes > _outstanding)
            {
                return false;
            }
            _outstanding -= bytes;
            if (offset > NextOffset)
            {
                Append(new TailEvent(NextOffset, offset - NextOffset, null)); // a gap the agent did not report separately
            }
            Append(new TailEvent(Math.Max(offset, NextOffset), bytes, text));
        }
        Signal();
        return true;
    }

    public void OnSkip(long bytes)
    {
        if (bytes <= 0)
        {
            return;
        }
        lock (_lock)
        {
            if (Ended)
            {
                return;
            }
            Append(new TailEvent(NextOffset, bytes, null));
        }
        Signal();
    }

    /// <summary>
    /// The host is now reached through <paramref name="upstream"/> (it reconnected, to this node or another,
    /// after the node that held it went away): the stream goes on from the offset it had reached, so a
    /// reader sees one log with no restart; what the host wrote while it was away is not in it.
    /// </summary>
    public void MoveTo(ITailUpstream upstream)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        lock (_lock)
        {
            Agent = upstream;
            _base = NextOffset;
            _outstanding = InitialCredit;
            _pendingGrant = 0;
        }
    }

    public void End(string reason, DateTimeOffset now)
    {
        lock (_lock)
        {
            if (Ended)
            {
                return;
            }
            EndReason = reason;
            EndedAt = now;
        }
        Signal();
    }

    public void Renew(DateTimeOffset now)
    {
        lock (_lock)
        {
            RenewedAt = now;
        }
    }

    public bool TryAttach()
    {
        lock (_lock)
        {
            if (_readers > 0)
            {
                return false;
            }
            _readers++;
            DetachedAt = null;
            return true;
        }
    }

    public void Detach(DateTimeOffset now)
    {
        lock (_lock)
        {
            _readers--;
            DetachedAt = now;
        }
    }

    /// <summary>
    /// Events from <paramref name="from"/> on, up to about <paramref name="maxBytes"/>. A part of the
    /// stream no longer buffered comes back as a gap; an event that <paramref name="from"/> falls
    /// inside comes back cut at that byte.
    /// </summary>
    public List<TailEvent> Read(long from, long maxBytes)
    {
        var result = new List<TailEvent>();
        long taken = 0;
        lock (_lock)
        {
            var first = _events.First?.Value.Offset ?? NextOffset;
            if (from < first)
            {
                result.Add(new TailEvent(from, first - from, null));
                from = first;
            }
            foreach (var e in _events)
            {
                if (e.End <= from)
                {
                    continue;
                }
                var piece = e.Offset >= from ? e : Cut(e, from);
                result.Add(piece);
                taken += piece.IsSkip ? 0 : piece.Bytes;
                from = piece.End;
                if (taken >= maxBytes)
                {
                    break;
                }
            }
        }
        return result;
    }

    /// <summary>The reader wrote <paramref name="bytes"/> out: give them back to the agent (in pieces of at least 4 KiB, or when the reader has caught up).</summary>
    public void Grant(long bytes, bool caughtUp)
    {
        long grant;
        lock (_lock)
        {
            _pendingGrant += bytes;
            if (_pendingGrant < 4096 && !caughtUp)
            {
                return;
            }
            grant = Math.Min(_pendingGrant, InitialCredit - _outstanding);
            _pendingGrant = 0;
            if (grant <= 0 || Ended)
            {
                return;
            }
            _outstanding += grant;
        }
        Agent.Send(HubMessages.Serialize(new TailCredit { Id = Id, Bytes = grant }, HubJsonContext.Default.TailCredit));
    }

    /// <summary>Waits until something new arrives (or the session ends), at most <paramref name="timeout"/>.</summary>
    public async Task WaitAsync(long after, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_lock)
        {
            if (NextOffset > after || Ended)
            {
                return;
            }
            changed = _changed.Task;
        }
        try
        {
            await changed.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    private void Append(TailEvent e)
    {
        _events.AddLast(e);
        _buffered += e.IsSkip ? 0 : e.Bytes;
        NextOffset = e.End;
        while (_buffered > BufferBytes && _events.First is { } oldest)
        {
            _events.RemoveFirst();
            _buffered -= oldest.Value.IsSkip ? 0 : oldest.Value.Bytes;
        }
    }

    private void Signal()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            changed = _changed;
            _changed = New();
        }
        changed.TrySetResult();
    }

    private static TailEvent Cut(TailEvent e, long from)
    {
        var skip = (int)(from - e.Offset);
        if (e.IsSkip)
        {
            return new TailEvent(from, e.Bytes - skip, null);
        }
        var bytes = Encoding.UTF8.GetBytes(e.Text!);
        // Never start inside a UTF-8 character: move forward to the next lead byte.
        while (skip < bytes.Length && (bytes[skip] & 0xC0) == 0x80)
        {
            skip++;
        }
        return new TailEvent(e.Offset + skip, bytes.Length - skip, Encoding.UTF8.GetString(bytes, skip, bytes.Length - skip));
    }

    private static TaskCompletionSource New() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
