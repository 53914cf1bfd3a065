using Belay.Core.Update;

namespace Belay.Core.Tests.Update;

public sealed class PollScheduleTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Cap = PollSchedule.DefaultErrorCap;

    [Theory]
    [InlineData(0.0, 54)]
    [InlineData(0.5, 60)]
    [InlineData(1.0, 66)]
    [InlineData(-3.0, 54)]
    [InlineData(7.0, 66)]
    public void AHealthyPollWaitsTheIntervalWithinTenPercentJitter(double random01, double seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), PollSchedule.NextDelay(Interval, 0, Cap, random01));
    }

    [Fact]
    public void EachErrorInARowDoublesTheWaitUpToTheCap()
    {
        var waits = Enumerable.Range(0, 6).Select(errors => PollSchedule.NextDelay(Interval, errors, Cap, 0.5).TotalSeconds);
        Assert.Equal([60, 120, 240, 300, 300, 300], waits);
    }

    [Fact]
    public void TheDefaultErrorCapIsFiveMinutes()
    {
        Assert.Equal(TimeSpan.FromMinutes(5), PollSchedule.NextDelay(Interval, 10, 0.5));
    }

    [Fact]
    public void TheCapNeverMakesAFailingHostPollSoonerThanAHealthyOne()
    {
        var hourly = TimeSpan.FromHours(1);
        Assert.Equal(hourly, PollSchedule.NextDelay(hourly, 3, Cap, 0.5));
    }

    [Fact]
    public void HugeErrorCountsStayAtTheCap()
    {
        Assert.Equal(Cap, PollSchedule.NextDelay(Interval, int.MaxValue, Cap, 0.5));
    }

    [Fact]
    public void EveryDelayIsWithinTenPercentOfItsBaseAndTheJitterSpreadsIt()
    {
        var rng = new Random(7);
        for (var errors = 0; errors < 12; errors++)
        {
            var expected = errors == 0 ? Interval : TimeSpan.FromTicks(Math.Min(Interval.Ticks << errors, Cap.Ticks));
            var seen = new HashSet<TimeSpan>();
            for (var i = 0; i < 500; i++)
            {
                var d = PollSchedule.NextDelay(Interval, errors, Cap, rng.NextDouble());
                Assert.InRange(d, expected * 0.9, expected * 1.1);
                seen.Add(d);
            }
            Assert.True(seen.Count > 100, "the jitter spreads the delays");
        }
    }

    [Fact]
    public void NonsenseArgumentsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => PollSchedule.NextDelay(TimeSpan.Zero, 0, Cap, 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => PollSchedule.NextDelay(Interval, -1, Cap, 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => PollSchedule.NextDelay(Interval, 0, TimeSpan.Zero, 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => PollSchedule.NextDelay(Interval, 0, Cap, double.NaN));
    }
}
