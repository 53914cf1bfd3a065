namespace Belay.Core.Hub;

/// <summary>
/// What the agent has to send to its hub, bounded so that a hub that is slow, stuck or gone
/// never grows the agent's memory:
/// <list type="bullet">
/// <item>one <c>state</c> slot: a newer state replaces the one not sent yet (it is a snapshot;
/// the old one is worthless once there is a newer);</item>
/// <item>control frames (hello, tail.skip, tail.end), at most <see cref="MaxControl"/>; past that
/// the oldest goes;</item>
/// <item>tail data, at most <see cref="MaxDataBytes"/>; a piece that does not fit is refused and
/// the caller counts it as dropped (the credit window keeps this from happening with a hub that
/// follows the protocol).</item>
/// </list>
/// Senders never wait: every method returns at once. One reader (the connection's send loop)
/// takes frames in the order control, state, data.
/// </summary>
public sealed class HubOutbox
{
    public const int MaxControl = 64;
    public const long MaxDataBytes = 1024 * 1024;

    private readonly Lock _lock = new();
    private readonly Queue<byte[]> _control = new();
    private readonly Queue<byte[]> _data = new();
    private byte[]? _state;
    private long _dataBytes;
    private TaskCompletionSource _ready = NewSignal();

    public long DataBytes
    {
        get
        {
            lock (_lock)
            {
                return _dataBytes;
            }
        }
    }

    /// <summary>Replaces the pending state (the oldest state is replaced, never queued).</summary>
    public void SetState(byte[] frame)
    {
        lock (_lock)
        {
            _state = frame;
        }
        Signal();
    }

    public void EnqueueControl(byte[] frame)
    {
        lock (_lock)
        {
            while (_control.Count >= MaxControl)
            {
                _control.Dequeue();
            }
            _control.Enqueue(frame);
        }
        Signal();
    }

    /// <summary>Queues tail data; false (nothing queued) when that would pass <see cref="MaxDataBytes"/>.</summary>
    public bool TryEnqueueData(byte[] frame)
    {
        lock (_lock)
        {
            if (_dataBytes + frame.Length > MaxDataBytes)
            {
                return false;
            }
            _data.Enqueue(frame);
            _dataBytes += frame.Length;
        }
        Signal();
        return true;
    }

    /// <summary>Empties the queue (a new connection starts with hello and a fresh state).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _control.Clear();
            _data.Clear();
            _dataBytes = 0;
            _state = null;
        }
    }

    /// <summary>The next frame to send, or null when there is none.</summary>
    public byte[]? TryDequeue()
    {
        lock (_lock)
        {
            if (_control.TryDequeue(out var control))
            {
                return control;
            }
            if (_state is { } state)
            {
                _state = null;
                return state;
            }
            if (_data.TryDequeue(out var data))
            {
                _dataBytes -= data.Length;
                return data;
            }
            _ready = _ready.Task.IsCompleted ? NewSignal() : _ready;
            return null;
        }
    }

    /// <summary>Waits for the next frame.</summary>
    public async Task<byte[]> DequeueAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryDequeue() is { } frame)
            {
                return frame;
            }
            Task ready;
            lock (_lock)
            {
                ready = _ready.Task;
            }
            await ready.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void Signal()
    {
        TaskCompletionSource ready;
        lock (_lock)
        {
            ready = _ready;
        }
        ready.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
