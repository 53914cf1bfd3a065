using System.Globalization;

namespace Belay.Core.Feed;

/// <summary>
/// What every fetch from a feed is held to, whatever the server does (slow retrieval and
/// endless data attacks): an overall deadline per file (one for metadata, a longer one for
/// artifacts), and a minimum throughput: in each <see cref="Window"/> at least
/// <see cref="MinimumBytesPerSecond"/> × the window's seconds must arrive (and at least one
/// byte), counting from the request, so a server that stalls after the headers, trickles a
/// byte a second or never answers is dropped within about two windows. The size caps are
/// separate: metadata is capped at <see cref="FeedSource.MetadataLimit"/>, an artifact at its
/// signed size.
/// </summary>
public sealed record TransferLimits(TimeSpan MetadataDeadline, TimeSpan ArtifactDeadline, long MinimumBytesPerSecond, TimeSpan Window)
{
    /// <summary>60 s per metadata file, 30 min per artifact, 1 KiB/s over 30 s windows.</summary>
    public static TransferLimits Default { get; } = new(TimeSpan.FromSeconds(60), TimeSpan.FromMinutes(30), 1024, TimeSpan.FromSeconds(30));

    /// <summary>A read capped at the metadata limit is a metadata fetch; a larger one an artifact.</summary>
    public TimeSpan DeadlineFor(long maxBytes) => maxBytes > FeedSource.MetadataLimit ? ArtifactDeadline : MetadataDeadline;

    /// <summary>The bytes a window must bring (at least one).</summary>
    public long BytesPerWindow => Math.Max(1, (long)(MinimumBytesPerSecond * Window.TotalSeconds));
}

/// <summary>
/// Enforces <see cref="TransferLimits"/> on one fetch: <see cref="BeginWait"/> gives the token
/// for the next wait (request, headers, a read), cancelled at the deadline or at the end of
/// the first window that can no longer bring enough bytes; <see cref="Progress"/> counts what
/// arrived. Cancelling is used only when the fetch has certainly failed, since a cancelled
/// read drops the connection.
/// </summary>
internal sealed class TransferGuard : IDisposable
{
    private readonly TransferLimits _limits;
    private readonly TimeSpan _deadline;
    private readonly string _what;
    private readonly CancellationToken _outer;
    private readonly CancellationTokenSource _cts;
    private readonly long _started;
    private TimeSpan _windowStart;
    private long _windowBytes;
    private long _total;
    private bool _deadlineFirst;

    public TransferGuard(TransferLimits limits, TimeSpan deadline, string what, CancellationToken outer)
    {
        _limits = limits;
        _deadline = deadline;
        _what = what;
        _outer = outer;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _started = TimeProvider.System.GetTimestamp();
    }

    private TimeSpan Elapsed => TimeProvider.System.GetElapsedTime(_started);

    /// <summary>Arms the timer for the next wait and returns the token to wait with.</summary>
    public CancellationToken BeginWait()
    {
        var now = Elapsed;
        Roll(now);
        // The current window fails at its end unless it already has its bytes; then the next one can fail at its end.
        var failsAt = _windowStart + (_windowBytes >= _limits.BytesPerWindow ? 2 * _limits.Window : _limits.Window);
        _deadlineFirst = _deadline <= failsAt;
        var fireAt = _deadlineFirst ? _deadline : failsAt;
        var delay = fireAt - now;
        if (delay <= TimeSpan.Zero)
        {
            _cts.Cancel();
        }
        else
        {
            _cts.CancelAfter(delay);
        }
        return _cts.Token;
    }

    /// <summary>Counts <paramref name="bytes"/> that arrived (0 for the response headers, which count as one).</summary>
    public void Progress(int bytes)
    {
        var n = Math.Max(bytes, 1);
        _total += bytes;
        Roll(Elapsed);
        _windowBytes += n;
    }

    /// <summary>Whether a failure (whatever its type) is this guard's doing rather than the caller's cancellation.</summary>
    public bool TimedOut(Exception e) => e is not BelayException && _cts.IsCancellationRequested && !_outer.IsCancellationRequested;

    public BelayException Failure(Exception inner)
    {
        var seconds = _limits.Window.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        return _deadlineFirst
            ? BelayException.Unreachable($"{_what} did not arrive within the deadline of {Format(_deadline)} ({_total} bytes so far); giving up", inner)
            : BelayException.Unreachable($"{_what} is too slow: fewer than {_limits.BytesPerWindow} bytes in {seconds} s (minimum {_limits.MinimumBytesPerSecond} bytes/s; {_total} bytes so far); giving up", inner);
    }

    /// <summary>Closes the windows that have ended; throws when one of them fell short.</summary>
    private void Roll(TimeSpan now)
    {
        while (now >= _windowStart + _limits.Window)
        {
            if (_windowBytes < _limits.BytesPerWindow)
            {
                _deadlineFirst = false;
                throw Failure(new TimeoutException("throughput below the minimum"));
            }
            _windowStart += _limits.Window;
            _windowBytes = 0;
        }
        if (now >= _deadline)
        {
            _deadlineFirst = true;
            throw Failure(new TimeoutException("deadline"));
        }
    }

    private static string Format(TimeSpan t) =>
        t.TotalSeconds < 120 ? $"{t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s" : $"{t.TotalMinutes.ToString("0.#", CultureInfo.InvariantCulture)} min";

    public void Dispose() => _cts.Dispose();
}
