using Belay.Core.IO;

namespace Belay.Core.Tests.IO;

public sealed class DeadlineWatchTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(1);

    private static async Task Cancelled(CancellationTokenSource source)
    {
        var done = new TaskCompletionSource();
        using (source.Token.Register(() => done.TrySetResult()))
        {
            await done.Task.WaitAsync(Long, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task A_deadline_cancels_its_source_and_not_before_its_time()
    {
        using var watch = new DeadlineWatch(TimeProvider.System, "test-deadlines");
        using var source = new CancellationTokenSource();
        using var deadline = watch.Create(source);
        var started = TimeProvider.System.GetTimestamp();
        deadline.Arm(TimeSpan.FromMilliseconds(50));
        Assert.False(source.IsCancellationRequested);
        await Cancelled(source);
        Assert.True(TimeProvider.System.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(50));
    }

    [Fact]
    public async Task A_deadline_taken_off_or_armed_again_later_does_not_fire_at_its_old_time()
    {
        using var watch = new DeadlineWatch(TimeProvider.System, "test-deadlines");
        using var disposed = new CancellationTokenSource();
        using var moved = new CancellationTokenSource();
        using var witness = new CancellationTokenSource();
        var first = watch.Create(disposed);
        first.Arm(TimeSpan.FromMilliseconds(10));
        first.Dispose();
        using var second = watch.Create(moved);
        second.Arm(TimeSpan.FromMilliseconds(10));
        second.Arm(TimeSpan.FromHours(1));
        using var third = watch.Create(witness);
        third.Arm(TimeSpan.FromMilliseconds(100));
        await Cancelled(witness);
        Assert.False(disposed.IsCancellationRequested);
        Assert.False(moved.IsCancellationRequested);
    }

    [Fact]
    public void A_deadline_that_is_already_due_cancels_at_once()
    {
        using var watch = new DeadlineWatch(TimeProvider.System, "test-deadlines");
        using var source = new CancellationTokenSource();
        using var deadline = watch.Create(source);
        deadline.Arm(TimeSpan.Zero);
        Assert.True(source.IsCancellationRequested);
    }

    [Fact]
    public async Task Arming_a_deadline_later_than_the_threads_wait_costs_no_wake_up_and_a_sooner_one_wakes_it()
    {
        // The point of the type: a feed read every poll, each with a deadline a window away, must not wake anything.
        using var watch = new DeadlineWatch(TimeProvider.System, "test-deadlines", round: TimeSpan.FromHours(1));
        using var a = new CancellationTokenSource();
        using var b = new CancellationTokenSource();
        using var c = new CancellationTokenSource();
        using var soon = new CancellationTokenSource();
        using var first = watch.Create(a);
        first.Arm(TimeSpan.FromMinutes(10));
        using var later = watch.Create(b);
        later.Arm(TimeSpan.FromMinutes(20));
        later.Dispose();
        using var later2 = watch.Create(c);
        later2.Arm(TimeSpan.FromMinutes(15));
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.Equal(0, watch.WakeUps);
        using var sooner = watch.Create(soon);
        sooner.Arm(TimeSpan.FromMilliseconds(20));
        await Cancelled(soon);
        Assert.True(watch.WakeUps >= 1);
        Assert.False(a.IsCancellationRequested);
        Assert.False(c.IsCancellationRequested);
    }

    [Fact]
    public async Task With_nothing_armed_the_thread_stops_waking()
    {
        using var watch = new DeadlineWatch(TimeProvider.System, "test-deadlines", round: TimeSpan.FromMilliseconds(20));
        using var source = new CancellationTokenSource();
        using (var deadline = watch.Create(source))
        {
            deadline.Arm(TimeSpan.FromMilliseconds(10));
            await Cancelled(source);
        }
        await Task.Delay(300, TestContext.Current.CancellationToken);
        var before = watch.WakeUps;
        await Task.Delay(300, TestContext.Current.CancellationToken);
        Assert.Equal(before, watch.WakeUps);
    }

    [Fact]
    public async Task A_source_disposed_by_its_owner_while_due_does_not_stop_the_watch()
    {
        using var watch = new DeadlineWatch(TimeProvider.System, "test-deadlines");
        var gone = new CancellationTokenSource();
        var deadline = watch.Create(gone);
        deadline.Arm(TimeSpan.FromMilliseconds(5));
        gone.Dispose(); // the owner forgot to take the deadline off first: the watch must survive it
        using var witness = new CancellationTokenSource();
        using var next = watch.Create(witness);
        next.Arm(TimeSpan.FromMilliseconds(50));
        await Cancelled(witness);
        deadline.Dispose();
    }

    [Fact]
    public void The_shared_watch_waits_in_rounds_of_the_default_length_never_zero()
    {
        // A zero round made the thread spin while anything was armed (19 ms of CPU a poll in the bench, not an error anywhere).
        Assert.Equal(DeadlineWatch.DefaultRound, DeadlineWatch.Shared.RoundLength);
        Assert.True(DeadlineWatch.DefaultRound > TimeSpan.Zero);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DeadlineWatch(TimeProvider.System, "test-deadlines", TimeSpan.Zero));
    }
}
