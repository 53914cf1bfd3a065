using Belay.Core.Hub;

namespace Belay.Core.Tests.Hub;

public sealed class BackoffTests
{
    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 2)]
    [InlineData(3, 8)]
    [InlineData(8, 256)]
    [InlineData(9, 300)]
    [InlineData(40, 300)]
    public void TheCeilingDoublesFromOneSecondUpToFiveMinutes(int attempt, double ceilingSeconds)
    {
        Assert.Equal(ceilingSeconds, Backoff.FullJitter(attempt, 0.999999).TotalSeconds, 2);
        Assert.Equal(ceilingSeconds / 2, Backoff.FullJitter(attempt, 0.5).TotalSeconds, 2);
    }

    [Fact]
    public void FullJitterSpreadsOverTheWholeWindowButNeverBelowAQuarterSecond()
    {
        Assert.Equal(Backoff.Minimum, Backoff.FullJitter(5, 0));
        var draws = Enumerable.Range(0, 1000).Select(i => Backoff.FullJitter(6, i / 1000.0).TotalSeconds).ToList();
        Assert.True(draws.Min() < 1 && draws.Max() > 60, $"{draws.Min()} .. {draws.Max()}");
    }
}
