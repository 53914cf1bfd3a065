using Belay.Core.IO;
using Belay.TestSupport;

namespace Belay.Core.Tests.IO;

public sealed class PageReleaseScheduleTests
{
    private static readonly Func<bool> Idle = () => false;

    private readonly FakeClock _clock = new();

    /// <summary>A schedule whose start-up release was a few minutes ago.</summary>
    private PageReleaseSchedule StartedLongAgo()
    {
        var schedule = new PageReleaseSchedule(_clock);
        schedule.Released();
        _clock.Advance(TimeSpan.FromMinutes(5));
        return schedule;
    }

    [Fact]
    public void AnIdleProcessNeverReleasesAgain()
    {
        var schedule = StartedLongAgo();
        for (var poll = 0; poll < 100; poll++)
        {
            Assert.False(schedule.Due(Idle));
            _clock.Advance(TimeSpan.FromSeconds(10));
        }
        Assert.Equal(0, schedule.Releases);
    }

    [Fact]
    public void WorkAfterStartUpIsReleasedOnceItSettled()
    {
        var schedule = StartedLongAgo();
        schedule.WorkHappened();
        Assert.False(schedule.Due(Idle)); // just now: what it does next would fault straight back in
        _clock.Advance(PageReleaseSchedule.Settle);
        Assert.True(schedule.Due(Idle));
        Assert.Equal(1, schedule.Releases);
        _clock.Advance(TimeSpan.FromMinutes(5));
        Assert.False(schedule.Due(Idle)); // released: the work is forgotten
    }

    [Fact]
    public void APeriodicCollectionReleasesOnlyAfterStartUpAndNeverDuringOrJustAfterWork()
    {
        var schedule = new PageReleaseSchedule(_clock);
        Assert.False(schedule.DueAtCollection(Idle)); // start-up is not over
        schedule.Released();
        _clock.Advance(TimeSpan.FromMinutes(10));
        Assert.False(schedule.DueAtCollection(() => true)); // a deploy is running
        schedule.WorkHappened();
        _clock.Advance(PageReleaseSchedule.Settle - TimeSpan.FromSeconds(1));
        Assert.False(schedule.DueAtCollection(Idle)); // the work has not settled: its next step would fault straight back
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(schedule.DueAtCollection(Idle));
        Assert.Equal(1, schedule.Releases);
        _clock.Advance(TimeSpan.FromMinutes(5));
        Assert.False(schedule.Due(Idle)); // the work noted before it went with that release
        _clock.Advance(TimeSpan.FromMinutes(5));
        Assert.True(schedule.DueAtCollection(Idle)); // an idle process: every collection, no work needed
        Assert.Equal(2, schedule.Releases);
    }

    [Fact]
    public void WorkBeforeStartUpEndedIsStartUpsOwnRelease()
    {
        var schedule = new PageReleaseSchedule(_clock);
        schedule.WorkHappened();
        _clock.Advance(TimeSpan.FromMinutes(5));
        Assert.False(schedule.Due(Idle)); // start-up is not over: nothing goes back yet
        Assert.False(schedule.StartupReleased);
        schedule.Released();
        Assert.True(schedule.StartupReleased);
        _clock.Advance(TimeSpan.FromMinutes(5));
        Assert.False(schedule.Due(Idle));
    }

    [Fact]
    public void NothingGoesBackWhileTheWorkIsStillGoingOn()
    {
        var schedule = StartedLongAgo();
        var deploying = true;
        schedule.WorkHappened();
        _clock.Advance(TimeSpan.FromMinutes(3));
        Assert.False(schedule.Due(() => deploying));
        deploying = false;
        Assert.True(schedule.Due(() => deploying));
    }

    [Fact]
    public void BusyIsNotAskedWhenNoWorkIsPending()
    {
        var schedule = StartedLongAgo();
        Assert.False(schedule.Due(() => throw new InvalidOperationException("asked on an idle poll")));
    }

    [Fact]
    public void ReleasesAreAtLeastAMinuteApart()
    {
        var schedule = new PageReleaseSchedule(_clock);
        schedule.Released();
        schedule.WorkHappened();
        _clock.Advance(TimeSpan.FromSeconds(30));
        Assert.False(schedule.Due(Idle)); // start-up's release was 30 s ago
        _clock.Advance(PageReleaseSchedule.Spacing - TimeSpan.FromSeconds(30));
        Assert.True(schedule.Due(Idle));

        // A host that deploys over and over: one release a minute at most, however often the work comes.
        var releases = 0;
        for (var second = 0; second < 600; second += 10)
        {
            schedule.WorkHappened();
            _clock.Advance(TimeSpan.FromSeconds(10));
            releases += schedule.Due(Idle) ? 1 : 0;
        }
        Assert.InRange(releases, 1, 10);
        Assert.Equal(1 + releases, schedule.Releases);
    }

    [Fact]
    public void WorkDuringTheSpacingIsReleasedWhenTheSpacingEnds()
    {
        var schedule = StartedLongAgo();
        schedule.WorkHappened();
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.True(schedule.Due(Idle));
        _clock.Advance(TimeSpan.FromSeconds(5));
        schedule.WorkHappened(); // a second deploy right after the first
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.False(schedule.Due(Idle));
        _clock.Advance(PageReleaseSchedule.Spacing);
        Assert.True(schedule.Due(Idle));
        Assert.Equal(2, schedule.Releases);
    }

    [Fact]
    public void DueAtIsWhenTheSpacingAndTheSettlingAreBothOver()
    {
        var schedule = new PageReleaseSchedule(_clock);
        var start = _clock.Now;
        schedule.Released();
        Assert.Null(schedule.DueAt); // nothing pending: nothing to wake for
        _clock.Advance(TimeSpan.FromSeconds(10));
        schedule.WorkHappened();
        Assert.Equal(start + PageReleaseSchedule.Spacing, schedule.DueAt);
        _clock.Now = start + PageReleaseSchedule.Spacing;
        schedule.WorkHappened();
        Assert.Equal(_clock.Now + PageReleaseSchedule.Settle, schedule.DueAt);
        Assert.False(schedule.Due(Idle));
        _clock.Now = schedule.DueAt!.Value;
        Assert.True(schedule.Due(Idle));
        Assert.Null(schedule.DueAt);
    }
}
