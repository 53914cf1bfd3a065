using System.Text;
using Belay.Core.IO;
using Belay.Core.Programs;

namespace Belay.Core.Hub;

/// <summary>
/// The agent's live tails (DESIGN.md, "Live tail flow control"): each one follows a log file
/// with <see cref="LogFollower"/>, exactly as <c>belay logs -f</c> does (the last N lines, then
/// every new byte, across rotations), and pushes what it reads through a <see cref="TailWindow"/>
/// into the <see cref="HubOutbox"/>. The file is read whatever the reader does; what there is
/// no credit for is dropped and reported as <c>tail.skip</c>, so a slow reader (or a stuck hub)
/// never blocks a program or its log pump, which only ever write to the file.
/// At most <see cref="HubMessages.MaxStreamsPerAgent"/> at once; each ends
/// <see cref="HubMessages.StreamLifetime"/> after it was opened or last renewed (a tail.open for
/// an id already open renews it). All of them end with the connection.
/// </summary>
public sealed class TailStreams
{
    /// <summary>
    /// Where the log of <paramref name="program"/>'s <paramref name="stream"/> (stdout or stderr) is now,
    /// asked again on every poll since rotation moves it; null when there is no such log.
    /// </summary>
    public delegate Func<string?>? LogResolver(string program, string stream);

    public const int MaxLines = 5000;

    private readonly Lock _lock = new();
    private readonly Dictionary<long, TailStream> _streams = [];
    private readonly LogResolver _resolve;
    private readonly HubOutbox _queue;
    private readonly TimeProvider _clock;
    private readonly Action<string> _log;

    public TailStreams(LogResolver resolve, HubOutbox queue, TimeProvider clock, Action<string> log)
    {
        _resolve = resolve;
        _queue = queue;
        _clock = clock;
        _log = log;
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _streams.Count;
            }
        }
    }

    public void Open(TailOpen open)
    {
        ArgumentNullException.ThrowIfNull(open);
        lock (_lock)
        {
            if (_streams.TryGetValue(open.Id, out var existing))
            {
                existing.RenewedAt = _clock.GetUtcNow();
                return;
            }
            if (_streams.Count >= HubMessages.MaxStreamsPerAgent)
            {
                End(open.Id, $"too many streams: at most {HubMessages.MaxStreamsPerAgent} per agent");
                return;
            }
        }
        if (open.Id <= 0 || open.Stream is not ("stdout" or "stderr") || string.IsNullOrEmpty(open.Program))
        {
            End(open.Id, $"bad tail.open: stream '{open.Stream}' (stdout or stderr), id {open.Id}");
            return;
        }
        var path = _resolve(open.Program, open.Stream);
        if (path is null)
        {
            End(open.Id, $"no {open.Stream} log for '{open.Program}' on this host");
            return;
        }
        var tail = new TailStream(open.Id, _queue, _clock.GetUtcNow());
        lock (_lock)
        {
            if (_streams.Count >= HubMessages.MaxStreamsPerAgent || !_streams.TryAdd(open.Id, tail))
            {
                End(open.Id, $"too many streams: at most {HubMessages.MaxStreamsPerAgent} per agent");
                return;
            }
        }
        _log($"live tail {open.Id}: {open.Program} {open.Stream}, last {Math.Clamp(open.Lines, 0, MaxLines)} lines{(open.Follow ? ", following" : "")}");
        tail.Run = Task.Run(async () =>
        {
            string reason;
            try
            {
                await LogFollower.RunAsync(path, Math.Clamp(open.Lines, 0, MaxLines), open.Follow, tail, tail.Stop.Token).ConfigureAwait(false);
                reason = tail.Stop.IsCancellationRequested ? tail.EndReason ?? "closed" : "end of log";
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                reason = $"cannot read the log: {e.Message}";
            }
            Remove(tail);
            FlushSkip(tail);
            if (!tail.Silent)
            {
                End(tail.Id, reason);
            }
        });
    }

    public void Credit(TailCredit credit)
    {
        ArgumentNullException.ThrowIfNull(credit);
        TailStream? tail;
        lock (_lock)
        {
            _streams.TryGetValue(credit.Id, out tail);
        }
        tail?.AddCredit(credit.Bytes);
    }

    public void Close(TailClose close)
    {
        ArgumentNullException.ThrowIfNull(close);
        TailStream? tail;
        lock (_lock)
        {
            _streams.TryGetValue(close.Id, out tail);
        }
        tail?.Cancel("closed by the hub");
    }

    /// <summary>Once a second: reports drops of streams that sent nothing since, and ends expired streams.</summary>
    public void Tick()
    {
        var now = _clock.GetUtcNow();
        List<TailStream> streams;
        lock (_lock)
        {
            streams = [.. _streams.Values];
        }
        foreach (var tail in streams)
        {
            FlushSkip(tail);
            if (now - tail.RenewedAt >= HubMessages.StreamLifetime)
            {
                tail.Cancel($"expired after {HubMessages.StreamLifetime.TotalMinutes:0} minutes without renewal");
            }
        }
    }

    /// <summary>Ends every stream without telling the hub (the connection they belonged to is gone).</summary>
    public async Task CloseAllAsync()
    {
        List<TailStream> streams;
        lock (_lock)
        {
            streams = [.. _streams.Values];
        }
        foreach (var tail in streams)
        {
            tail.Silent = true;
            tail.Cancel("disconnected");
        }
        foreach (var tail in streams)
        {
            if (tail.Run is { } run)
            {
                await run.ConfigureAwait(false);
            }
        }
    }

    private void FlushSkip(TailStream tail)
    {
        var skipped = tail.TakeSkip();
        if (skipped > 0)
        {
            _queue.EnqueueControl(HubMessages.Serialize(new TailSkip { Id = tail.Id, Bytes = skipped }, HubJsonContext.Default.TailSkip));
        }
    }

    private void Remove(TailStream tail)
    {
        lock (_lock)
        {
            if (_streams.TryGetValue(tail.Id, out var current) && ReferenceEquals(current, tail))
            {
                _streams.Remove(tail.Id);
            }
        }
    }

    private void End(long id, string reason) =>
        _queue.EnqueueControl(HubMessages.Serialize(new TailEnd { Id = id, Reason = reason }, HubJsonContext.Default.TailEnd));

    /// <summary>The most text in one tail.data frame: 8 KiB, six times that still fits the hub's frame limit.</summary>
    public const int MaxFrameText = 8 * 1024;

    /// <summary>The sink <see cref="LogFollower"/> writes into: never blocks, drops what has no credit.</summary>
    private sealed class TailStream : WriteOnlyStream
    {
        private readonly HubOutbox _queue;
        private readonly TailWindow _window = new();
        private readonly Lock _lock = new();
        private byte[] _carry = [];
        private bool _first = true;

        public TailStream(long id, HubOutbox queue, DateTimeOffset now)
        {
            Id = id;
            _queue = queue;
            RenewedAt = now;
        }

        public long Id { get; }
        public DateTimeOffset RenewedAt { get; set; }
        public CancellationTokenSource Stop { get; } = new();
        public Task? Run { get; set; }
        public string? EndReason { get; private set; }
        public bool Silent { get; set; }

        public void Cancel(string reason)
        {
            EndReason ??= reason;
            try
            {
                Stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public void AddCredit(long bytes)
        {
            lock (_lock)
            {
                _window.AddCredit(bytes);
            }
        }

        public long TakeSkip()
        {
            lock (_lock)
            {
                return _window.TakeSkip();
            }
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            // Complete UTF-8 only: an incomplete last character waits for the next read; invalid
            // bytes become U+FFFD here, so offsets and credit count the bytes the hub receives.
            var combined = _carry.Length == 0 ? buffer : (ReadOnlySpan<byte>)[.. _carry, .. buffer];
            var complete = HubMessages.CompleteUtf8Length(combined);
            var clean = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(combined[..complete]));
            _carry = combined[complete..].ToArray();
            List<(TailPiece Piece, string? Text)> send = [];
            lock (_lock)
            {
                var pieces = _first ? _window.AcceptLatest(clean) : _window.Accept(clean);
                _first = false;
                foreach (var piece in pieces)
                {
                    if (piece.IsSkip)
                    {
                        send.Add((piece, null));
                        continue;
                    }
                    // Frames stay well under the hub's 64 KiB limit however the text escapes in JSON
                    // (a control character takes 6 bytes as \u0001): at most MaxFrameText bytes of text each.
                    for (var at = 0; at < piece.Length;)
                    {
                        var length = (int)Math.Min(MaxFrameText, piece.Length - at);
                        if (at + length < piece.Length)
                        {
                            length = Math.Max(1, HubMessages.CompleteUtf8Length(clean.AsSpan(piece.Start + at, length)));
                        }
                        send.Add((new TailPiece(false, piece.Offset + at, piece.Start + at, length), Encoding.UTF8.GetString(clean, piece.Start + at, length)));
                        at += length;
                    }
                }
            }
            foreach (var (piece, text) in send)
            {
                if (piece.IsSkip)
                {
                    _queue.EnqueueControl(HubMessages.Serialize(new TailSkip { Id = Id, Bytes = piece.Length }, HubJsonContext.Default.TailSkip));
                }
                else if (!_queue.TryEnqueueData(HubMessages.TailDataFrame(Id, piece.Offset, text!)))
                {
                    // The queue is full (a hub that grants credit it does not read): the piece counts as dropped.
                    _queue.EnqueueControl(HubMessages.Serialize(new TailSkip { Id = Id, Bytes = piece.Length }, HubJsonContext.Default.TailSkip));
                }
            }
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                Stop.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
