namespace Belay.Core.IO;

/// <summary>
/// An auto-reset signal with a timed wait, like <c>AsyncSignal</c>, whose waiting is done by one
/// thread of its own blocked on an event (a single futex wait with a timeout) instead of by a
/// timer: the awaiting code resumes on that thread. This is what the agent's poll loop sleeps on
/// between two checks. A <c>Task.Delay</c> there wakes the runtime's timer thread, which hands
/// the continuation to the thread pool, whose gate thread then wakes every 500 ms for a second:
/// about half of an idle agent's CPU per poll went to those wake-ups (docs/architecture.md,
/// "Footprint"). <see cref="Set"/> never blocks and coalesces (two sets before a wait wake it
/// once); <see cref="WaitAsync"/> completes with true when set, false when the timeout passed,
/// and is cancelled with its token. One wait at a time.
/// </summary>
public sealed class ThreadedSignal : IDisposable
{
    private readonly Lock _lock = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly TimeProvider _clock;
    private readonly string _name;
    private Thread? _thread;
    private Pending? _pending;
    private bool _set;
    private bool _disposed;

    /// <param name="clock">where the due time is read from; the wait itself is the event's, in real time</param>
    /// <param name="name">the thread's name (what ps and /proc show)</param>
    public ThreadedSignal(TimeProvider clock, string name)
    {
        ArgumentNullException.ThrowIfNull(clock);
        _clock = clock;
        _name = name;
    }

    /// <summary>Wakes the current wait with true, or the next one when none is waiting.</summary>
    public void Set()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _set = true;
            _wake.Set();
        }
    }

    /// <summary>True when <see cref="Set"/> came (before or during the wait), false after <paramref name="timeout"/>.</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<bool>(cancellationToken);
        }
        Pending pending;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_pending is not null)
            {
                throw new InvalidOperationException("one wait at a time");
            }
            if (_set)
            {
                _set = false;
                return Task.FromResult(true);
            }
            if (timeout <= TimeSpan.Zero)
            {
                return Task.FromResult(false);
            }
            // No RunContinuationsAsynchronously: the awaiting code runs on this signal's thread, not the thread pool's.
            pending = new Pending(_clock.GetTimestamp(), timeout, new TaskCompletionSource<bool>());
            _pending = pending;
            if (_thread is null)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = _name };
                _thread.Start();
            }
        }
        if (cancellationToken.CanBeCanceled)
        {
            pending.Registration = cancellationToken.Register(() =>
            {
                if (Take(pending))
                {
                    pending.Completion.TrySetCanceled(cancellationToken);
                }
            });
        }
        lock (_lock)
        {
            if (!_disposed)
            {
                _wake.Set();
            }
        }
        return pending.Completion.Task;
    }

    /// <summary>Takes <paramref name="pending"/> off the signal; false when it was completed already.</summary>
    private bool Take(Pending pending)
    {
        lock (_lock)
        {
            if (_pending != pending)
            {
                return false;
            }
            _pending = null;
            return true;
        }
    }

    private void Run()
    {
        while (true)
        {
            Pending? done = null;
            var result = false;
            var wait = Timeout.InfiniteTimeSpan;
            lock (_lock)
            {
                if (_disposed)
                {
                    break;
                }
                if (_pending is { } pending)
                {
                    var left = pending.Timeout - _clock.GetElapsedTime(pending.Started);
                    if (_set || left <= TimeSpan.Zero)
                    {
                        result = _set;
                        _set = false;
                        _pending = null;
                        done = pending;
                    }
                    else
                    {
                        wait = left;
                    }
                }
            }
            if (done is not null)
            {
                done.Registration.Dispose();
                done.Completion.TrySetResult(result); // runs the awaiting code here, up to its next wait
                continue;
            }
            // Round up: an event that returns a hair early would otherwise cost a second wake-up for the rest.
            _wake.WaitOne(wait == Timeout.InfiniteTimeSpan ? Timeout.Infinite : (int)Math.Min(int.MaxValue, Math.Ceiling(wait.TotalMilliseconds)));
        }
        // Disposed: everything else touches the event only under the lock and while not disposed.
        _wake.Dispose();
    }

    public void Dispose()
    {
        Pending? pending;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            pending = _pending;
            _pending = null;
            if (_thread is null)
            {
                _wake.Dispose();
            }
            else
            {
                _wake.Set(); // the thread sees _disposed, leaves, and disposes the event
            }
        }
        if (pending is not null)
        {
            pending.Registration.Dispose();
            pending.Completion.TrySetCanceled();
        }
    }

    private sealed class Pending(long started, TimeSpan timeout, TaskCompletionSource<bool> completion)
    {
        public long Started { get; } = started;
        public TimeSpan Timeout { get; } = timeout;
        public TaskCompletionSource<bool> Completion { get; } = completion;
        public CancellationTokenRegistration Registration { get; set; }
    }
}
