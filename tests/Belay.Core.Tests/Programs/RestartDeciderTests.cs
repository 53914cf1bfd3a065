using Belay.Core.Programs;
using Belay.TestSupport;

namespace Belay.Core.Tests.Programs;

public sealed class RestartDeciderTests
{
    private static readonly ProgramDefinition Program = new()
    {
        Name = "p",
        Command = ["p"],
        BackoffInitial = TimeSpan.FromSeconds(1),
        BackoffMax = TimeSpan.FromSeconds(8),
        StartTimeout = TimeSpan.FromSeconds(2),
        FatalAfter = 5,
        FatalWindow = TimeSpan.FromSeconds(60),
    };

    private readonly FakeClock _clock = new();

    /// <summary>Runs a program that crashes after <paramref name="uptime"/> each time, restarting it when told, until it is not restarted.</summary>
    private List<ExitDecision> CrashLoop(ProgramDefinition program, TimeSpan uptime, bool success = false, int max = 20)
    {
        var decisions = new List<ExitDecision>();
        IReadOnlyList<DateTimeOffset> failures = [];
        for (var i = 0; i < max; i++)
        {
            var started = _clock.Now;
            _clock.Advance(uptime);
            var d = RestartDecider.OnExit(program, failures, started, _clock.Now, success, stopRequested: false);
            decisions.Add(d);
            failures = d.Failures;
            if (d.RestartAt is not { } at)
            {
                break;
            }
            _clock.Now = at;
        }
        return decisions;
    }

    [Fact]
    public void EachFailureInTheWindowDoublesTheBackoffUpToItsCap()
    {
        var waits = CrashLoop(Program with { FatalAfter = 100 }, TimeSpan.FromSeconds(5), max: 6)
            .Select(d => (d.RestartAt!.Value - (d.Failures[^1])).TotalSeconds);
        Assert.Equal([1, 2, 4, 8, 8, 8], waits);
    }

    [Fact]
    public void FatalAfterFailuresWithinTheWindowStopTheRestarts()
    {
        var decisions = CrashLoop(Program, TimeSpan.FromMilliseconds(100));
        Assert.Equal(5, decisions.Count);
        Assert.All(decisions.SkipLast(1), d => Assert.Equal(ProgramState.Backoff, d.State));
        Assert.Equal(ProgramState.Fatal, decisions[^1].State);
        Assert.Null(decisions[^1].RestartAt);
        Assert.Contains("5 failures within 60 s", decisions[^1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void FailuresOlderThanTheWindowAreForgotten()
    {
        // Crashing every 20 s (plus backoff) keeps at most 3 failures in a 60 s window: never fatal.
        var decisions = CrashLoop(Program with { BackoffMax = TimeSpan.FromSeconds(1) }, TimeSpan.FromSeconds(20), max: 20);
        Assert.Equal(20, decisions.Count);
        Assert.All(decisions, d => Assert.Equal(ProgramState.Backoff, d.State));
        Assert.True(decisions.Max(d => d.Failures.Count) <= 3);
    }

    [Fact]
    public void AnExitBeforeStartTimeoutIsAFailureEvenWithExitZero()
    {
        var d = RestartDecider.OnExit(Program with { Restart = RestartPolicy.OnFailure }, [], _clock.Now, _clock.Now + TimeSpan.FromSeconds(1), success: true, stopRequested: false);
        Assert.Equal(ProgramState.Backoff, d.State);
        Assert.Single(d.Failures);
    }

    [Fact]
    public void OnFailureLeavesACleanExitAlone()
    {
        var d = RestartDecider.OnExit(Program with { Restart = RestartPolicy.OnFailure }, [], _clock.Now, _clock.Now + TimeSpan.FromSeconds(10), success: true, stopRequested: false);
        Assert.Equal(ProgramState.Exited, d.State);
        Assert.Null(d.RestartAt);
    }

    [Fact]
    public void AlwaysRestartsACleanExitAfterTheInitialBackoffWithoutCountingAFailure()
    {
        var d = RestartDecider.OnExit(Program, [], _clock.Now, _clock.Now + TimeSpan.FromSeconds(10), success: true, stopRequested: false);
        Assert.Equal(ProgramState.Backoff, d.State);
        Assert.Equal(_clock.Now + TimeSpan.FromSeconds(11), d.RestartAt);
        Assert.Empty(d.Failures);
    }

    [Fact]
    public void NeverRestartsNothing()
    {
        var d = RestartDecider.OnExit(Program with { Restart = RestartPolicy.Never }, [], _clock.Now, _clock.Now + TimeSpan.FromMilliseconds(1), success: false, stopRequested: false);
        Assert.Equal(ProgramState.Exited, d.State);
    }

    [Fact]
    public void AStopTheOperatorAskedForWinsOverEveryPolicy()
    {
        var d = RestartDecider.OnExit(Program, [], _clock.Now, _clock.Now + TimeSpan.FromMilliseconds(1), success: false, stopRequested: true);
        Assert.Equal(ProgramState.Stopped, d.State);
        Assert.Null(d.RestartAt);
        Assert.Empty(d.Failures);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(4, 8)]
    [InlineData(40, 8)]
    public void TheBackoffIsInitialTimesTwoToTheFailuresMinusOneCapped(int failures, double seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), RestartDecider.Backoff(Program, failures));
    }
}
