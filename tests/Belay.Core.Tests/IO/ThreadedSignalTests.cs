using Belay.Core.IO;

namespace Belay.Core.Tests.IO;

public sealed class ThreadedSignalTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task A_set_before_the_wait_wakes_it_at_once_and_only_once()
    {
        using var signal = new ThreadedSignal(TimeProvider.System, "test-signal");
        signal.Set();
        signal.Set();
        Assert.True(await signal.WaitAsync(Long, TestContext.Current.CancellationToken));
        Assert.False(await signal.WaitAsync(TimeSpan.FromMilliseconds(1), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_wait_ends_false_when_its_time_is_up()
    {
        using var signal = new ThreadedSignal(TimeProvider.System, "test-signal");
        Assert.False(await signal.WaitAsync(TimeSpan.FromMilliseconds(20), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_set_during_the_wait_wakes_it_with_true()
    {
        using var signal = new ThreadedSignal(TimeProvider.System, "test-signal");
        var wait = signal.WaitAsync(Long, TestContext.Current.CancellationToken);
        Assert.False(wait.IsCompleted);
        signal.Set();
        Assert.True(await wait);
    }

    [Fact]
    public async Task Cancelling_the_token_cancels_the_wait()
    {
        using var signal = new ThreadedSignal(TimeProvider.System, "test-signal");
        using var cts = new CancellationTokenSource();
        var wait = signal.WaitAsync(Long, cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        // The signal is free for the next wait.
        signal.Set();
        Assert.True(await signal.WaitAsync(Long, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task The_awaiting_code_resumes_on_the_signals_own_thread_not_the_thread_pool()
    {
        // The point of the type: a poll loop that sleeps on it wakes one thread, not the timer thread and a pool worker.
        using var signal = new ThreadedSignal(TimeProvider.System, "belay-test-poll");
        string? name = null;
        bool? pool = null;
        async Task Loop()
        {
            await signal.WaitAsync(TimeSpan.FromMilliseconds(10), CancellationToken.None).ConfigureAwait(false);
            name = Thread.CurrentThread.Name;
            pool = Thread.CurrentThread.IsThreadPoolThread;
        }
        await Loop();
        Assert.Equal("belay-test-poll", name);
        Assert.False(pool);
    }

    [Fact]
    public async Task A_second_wait_at_the_same_time_is_refused()
    {
        using var signal = new ThreadedSignal(TimeProvider.System, "test-signal");
        var first = signal.WaitAsync(Long, TestContext.Current.CancellationToken);
        Assert.Throws<InvalidOperationException>(() => { _ = signal.WaitAsync(Long, TestContext.Current.CancellationToken); });
        signal.Set();
        Assert.True(await first);
    }

    [Fact]
    public async Task Disposing_cancels_a_wait_in_progress()
    {
        var signal = new ThreadedSignal(TimeProvider.System, "test-signal");
        var wait = signal.WaitAsync(Long, TestContext.Current.CancellationToken);
        signal.Dispose();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
    }
}
