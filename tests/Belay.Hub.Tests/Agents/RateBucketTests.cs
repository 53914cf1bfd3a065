using Belay.Hub.Agents;

namespace Belay.Hub.Tests.Agents;

public sealed class RateBucketTests
{
    private sealed class TickClock : TimeProvider
    {
        public long Ticks { get; set; }
        public override long GetTimestamp() => Ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    }

    [Fact]
    public void ABurstIsTakenThenTokensComeBackAtTheRate()
    {
        var clock = new TickClock();
        var bucket = new RateBucket(1, 3, clock);
        Assert.Equal([true, true, true, false], Enumerable.Range(0, 4).Select(_ => bucket.TryTake()));
        clock.Ticks += TimeSpan.TicksPerSecond / 2;
        Assert.False(bucket.TryTake());
        clock.Ticks += TimeSpan.TicksPerSecond / 2;
        Assert.True(bucket.TryTake());
        clock.Ticks += TimeSpan.TicksPerSecond * 100;
        Assert.Equal(3, Enumerable.Range(0, 10).Count(_ => bucket.TryTake()));
    }

    [Fact]
    public void StateDeploysAreReadFromTheAppsLastDeploy()
    {
        var deploys = StateWriter.Deploys("h1", """
            {"apps":[{"name":"shop","lastDeploy":{"at":"2026-12-01T10:00:00Z","version":"2.7.1","result":"failed","step":"health","exitCode":3}},
                     {"name":"nodeploy"},{"name":"bad","lastDeploy":{"at":5}}, 7]}
            """);
        var d = Assert.Single(deploys);
        Assert.Equal(("shop", "2.7.1", "failed", "health", (int?)3), (d.App, d.Version, d.Result, d.Step, d.ExitCode));
        Assert.Empty(StateWriter.Deploys("h1", "not json"));
    }
}
