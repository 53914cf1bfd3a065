namespace Belay.Core.IO;

/// <summary>
/// Cancels token sources at their deadlines from one thread of its own, blocked on an event with
/// the time to the next deadline as its timeout, instead of through <see cref="CancellationTokenSource.CancelAfter(TimeSpan)"/>.
/// The runtime's timers wake its timer thread, which hands every due timer queue to the thread pool,
/// whose gate thread then wakes every 500 ms for a second; and a deleted timer does not disarm its
/// queue, so each feed read's transfer deadline (30 s, nearly always cancelled unused) cost those
/// wake-ups 30 s later (docs/architecture.md, "Footprint", fourth round).
/// Here a deadline that is not sooner than the one the thread already waits for costs no wake-up at
/// all, and the thread waits in rounds of at most <see cref="DefaultRound"/> while deadlines come and go, so
/// a feed read every few seconds, each with a deadline a window away, costs one wake-up a round.
/// After a round with nothing armed it waits for the next arm without a timeout.
/// A deadline fires no earlier than its due time; the source is cancelled on this thread (its
/// callbacks run here: keep them short, as a timer's must be).
/// </summary>
internal sealed class DeadlineWatch : IDisposable
{

    private readonly Lock _lock = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly List<Deadline> _armed = [];
    private readonly TimeProvider _clock;
    private readonly string _name;
    private Thread? _thread;

    /// <summary>Timestamp (of <see cref="_clock"/>) the thread wakes at by itself; long.MaxValue while it waits without a timeout.</summary>
    private long _wakesAt = long.MaxValue;

    /// <summary>Whether something was armed since the thread last looked: it then keeps waking in rounds.</summary>
    private bool _seen;

    private long _wakeUps;
    private bool _disposed;

    /// <param name="clock">where time is read from; the waiting itself is the event's, in real time</param>
    /// <param name="name">the thread's name (what ps and /proc show)</param>
    /// <param name="round">the longest the thread sleeps while deadlines come and go (<see cref="DefaultRound"/>)</param>
    public DeadlineWatch(TimeProvider clock, string name, TimeSpan? round = null)
    {
        ArgumentNullException.ThrowIfNull(clock);
        _clock = clock;
        _name = name;
        _round = round ?? DefaultRound;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_round, TimeSpan.Zero, nameof(round));
    }

    /// <summary>
    /// The longest the thread sleeps while deadlines are being armed, so that arming one a round away needs no wake-up:
    /// the transfer window (<see cref="Feed.TransferLimits.Default"/>), the deadline every feed read arms first.
    /// </summary>
    public static TimeSpan DefaultRound => TimeSpan.FromSeconds(30);

    /// <summary>
    /// The watch the product's transfers share (one thread per process, started at the first deadline).
    /// <see cref="DefaultRound"/> is a property, not a static field: declared after this one, a field was still zero when
    /// this one was built, and the thread spun while anything was armed (the bench caught it: 19 ms of CPU a poll).
    /// </summary>
    public static DeadlineWatch Shared { get; } = new(TimeProvider.System, "belay deadlines");

    /// <summary>The round this watch waits in (<see cref="DefaultRound"/> unless given).</summary>
    internal TimeSpan RoundLength => _round;

    private readonly TimeSpan _round;

    /// <summary>How often the thread went round (for tests): woken by itself or by an arm sooner than its wait; a spin would show here.</summary>
    public long WakeUps => Interlocked.Read(ref _wakeUps);

    /// <summary>A deadline for <paramref name="source"/>, not armed yet: see <see cref="Deadline.Arm"/>.</summary>
    public Deadline Create(CancellationTokenSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new Deadline(this, source);
    }

    private void Arm(Deadline deadline, TimeSpan delay)
    {
        var due = _clock.GetTimestamp() + Ticks(delay);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            deadline.Due = due;
            if (!deadline.Armed)
            {
                deadline.Armed = true;
                _armed.Add(deadline);
            }
            _seen = true;
            if (_thread is null)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = _name };
                _wakesAt = due;
                _thread.Start();
                return;
            }
            if (due < _wakesAt)
            {
                _wakesAt = due;
                _wake.Set();
            }
        }
    }

    private void Disarm(Deadline deadline)
    {
        lock (_lock)
        {
            if (deadline.Armed)
            {
                deadline.Armed = false;
                _armed.Remove(deadline);
            }
        }
    }

    private void Run()
    {
        var due = new List<CancellationTokenSource>();
        while (true)
        {
            int wait;
            lock (_lock)
            {
                if (_disposed)
                {
                    break;
                }
                var now = _clock.GetTimestamp();
                var next = long.MaxValue;
                for (var i = _armed.Count - 1; i >= 0; i--)
                {
                    var d = _armed[i];
                    if (d.Due <= now)
                    {
                        d.Armed = false;
                        _armed.RemoveAt(i);
                        due.Add(d.Source);
                    }
                    else if (d.Due < next)
                    {
                        next = d.Due;
                    }
                }
                if (_seen || next != long.MaxValue)
                {
                    // Deadlines come and go: wait a round at most, so that the next one a round away needs no wake-up.
                    next = Math.Min(next, now + Ticks(_round));
                }
                _seen = false;
                _wakesAt = next;
                wait = next == long.MaxValue ? Timeout.Infinite : (int)Math.Min(int.MaxValue, Math.Ceiling(_clock.GetElapsedTime(now, next).TotalMilliseconds));
            }
            foreach (var source in due)
            {
                try
                {
                    source.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // Disposed by its owner between being taken off the list and now: nothing waits on it any more.
                }
                catch (AggregateException)
                {
                    // A callback failed; what it was cancelling failed with it. The watch goes on.
                }
            }
            due.Clear();
            if (wait != 0)
            {
                _wake.WaitOne(wait);
            }
            Interlocked.Increment(ref _wakeUps);
        }
        _wake.Dispose();
    }

    private long Ticks(TimeSpan t) => (long)Math.Ceiling(t.Ticks * (double)_clock.TimestampFrequency / TimeSpan.TicksPerSecond);

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _armed.Clear();
            if (_thread is null)
            {
                _wake.Dispose();
            }
            else
            {
                _wake.Set(); // the thread sees _disposed, leaves, and disposes the event
            }
        }
    }

    /// <summary>
    /// One source's deadline on a <see cref="DeadlineWatch"/>: <see cref="Arm"/> (again) sets when it is cancelled,
    /// <see cref="Dispose"/> takes it off. Arm and dispose from one flow at a time (a fetch), as with <c>CancelAfter</c>.
    /// </summary>
    public sealed class Deadline : IDisposable
    {
        private readonly DeadlineWatch _watch;

        internal Deadline(DeadlineWatch watch, CancellationTokenSource source)
        {
            _watch = watch;
            Source = source;
        }

        internal CancellationTokenSource Source { get; }
        internal long Due { get; set; }
        internal bool Armed { get; set; }

        /// <summary>Cancels the source <paramref name="delay"/> from now (at once when it is not positive), replacing the deadline armed before.</summary>
        public void Arm(TimeSpan delay)
        {
            if (delay <= TimeSpan.Zero)
            {
                _watch.Disarm(this);
                Source.Cancel();
                return;
            }
            _watch.Arm(this, delay);
        }

        /// <summary>Takes the deadline off the watch; the source is not cancelled.</summary>
        public void Dispose() => _watch.Disarm(this);
    }
}
