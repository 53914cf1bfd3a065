namespace Belay.Core.Hub;

/// <summary>
/// An auto-reset event for async code that owns nothing to dispose: <see cref="Set"/> never
/// blocks and coalesces (two sets before a wait wake it once); <see cref="WaitAsync"/> returns
/// true when set, false when the timeout passed.
/// </summary>
public sealed class AsyncSignal
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _next = New();

    public void Set()
    {
        TaskCompletionSource next;
        lock (_lock)
        {
            next = _next;
        }
        next.TrySetResult();
    }

    public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider clock, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(clock);
        Task signal;
        lock (_lock)
        {
            signal = _next.Task;
        }
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var timer = Task.Delay(timeout, clock, wait.Token);
        var first = await Task.WhenAny(signal, timer).ConfigureAwait(false);
        await wait.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        if (first != signal)
        {
            return false;
        }
        lock (_lock)
        {
            if (_next.Task.IsCompleted)
            {
                _next = New();
            }
        }
        return true;
    }

    private static TaskCompletionSource New() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
