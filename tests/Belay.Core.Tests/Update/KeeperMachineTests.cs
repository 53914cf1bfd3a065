using Belay.Core.Update;
using Belay.TestSupport;

namespace Belay.Core.Tests.Update;

public sealed class KeeperMachineTests
{
    private static readonly TimeSpan Deadline = KeeperPolicy.Default.TrialDeadline;
    private readonly FakeClock _clock = new();
    private readonly KeeperMachine _machine = new();

    private KeeperHost NewHost(string current = "1.0.0") =>
        new(_machine, InstallState.ForInstall(current, _clock.Now), _clock);

    private static KeeperHost Booted(KeeperHost host)
    {
        host.Boot();
        return host;
    }

    private static List<Type> Kinds(KeeperDecision d) =>
        d.Actions.Where(a => a is not Log).Select(a => a.GetType()).ToList();

    private static string Logs(KeeperDecision d) => string.Join("\n", d.Actions.OfType<Log>().Select(l => l.Message));

    // Boot

    [Fact]
    public void BootWithoutATrialStartsTheCurrentVersionAndWritesNothing()
    {
        var host = NewHost();
        var d = host.Boot();
        Assert.Equal([typeof(StartAgent)], Kinds(d));
        Assert.Equal("1.0.0", d.Actions.OfType<StartAgent>().Single().Version);
        Assert.True(d.Runtime.Booted);
        Assert.Equal("1.0.0", d.Runtime.AgentVersion);
    }

    [Fact]
    public void BootWithAPendingTrialCountsATryAndWritesItBeforeStartingTheTrialVersion()
    {
        var state = InstallState.ForInstall("1.0.0", _clock.Now);
        state.Trial = new TrialState { Version = "1.1.0", From = "1.0.0", Tries = 1, MaxTries = 3, StartedAt = _clock.Now };
        var d = _machine.Decide(KeeperSnapshot.Starting(state), new Boot(), _clock.Now);

        Assert.Equal([typeof(PersistState), typeof(StartAgent), typeof(ScheduleTick)], Kinds(d));
        Assert.Equal(2, ((PersistState)d.Actions.First(a => a is PersistState)).State.Trial!.Tries);
        Assert.Equal("1.1.0", d.Actions.OfType<StartAgent>().Single().Version);
        Assert.Equal(_clock.Now + Deadline, d.Actions.OfType<ScheduleTick>().Single().At);
    }

    [Fact]
    public void BootAfterTheLastTryWasUsedRollsBackMarksTheVersionBadAndStartsTheCurrentOne()
    {
        var state = InstallState.ForInstall("1.0.0", _clock.Now);
        state.Trial = new TrialState { Version = "1.1.0", From = "1.0.0", Tries = 3, MaxTries = 3, StartedAt = _clock.Now };
        var d = _machine.Decide(KeeperSnapshot.Starting(state), new Boot(), _clock.Now);

        Assert.Equal([typeof(PersistState), typeof(StartAgent)], Kinds(d));
        Assert.Null(d.State.Trial);
        Assert.Equal(["1.1.0"], d.State.Bad);
        Assert.Equal("1.0.0", d.State.Current);
        Assert.Equal("1.0.0", d.Actions.OfType<StartAgent>().Single().Version);
    }

    [Fact]
    public void ThePersistedMaxTriesOfATrialWinsOverTheCurrentPolicy()
    {
        var machine = new KeeperMachine(KeeperPolicy.Default with { MaxTries = 10 });
        var state = InstallState.ForInstall("1.0.0", _clock.Now);
        state.Trial = new TrialState { Version = "1.1.0", From = "1.0.0", Tries = 2, MaxTries = 2, StartedAt = _clock.Now };
        var d = machine.Decide(KeeperSnapshot.Starting(state), new Boot(), _clock.Now);
        Assert.Equal(["1.1.0"], d.State.Bad);
    }

    [Fact]
    public void TheTrialCountSurvivesEachCrashUntilTheTriesRunOut()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        Assert.Equal(1, host.ReadDisk().Trial!.Tries);

        host.Crash(); // e.g. the new agent takes the host down with it
        Assert.Equal(2, host.ReadDisk().Trial!.Tries);
        Assert.Equal("1.1.0", host.Running);

        host.Crash();
        Assert.Equal(3, host.ReadDisk().Trial!.Tries);

        host.Crash();
        var disk = host.ReadDisk();
        Assert.Null(disk.Trial);
        Assert.Equal(["1.1.0"], disk.Bad);
        Assert.Equal("1.0.0", host.Running);
        Assert.Equal(3, host.Starts.Count(v => v == "1.1.0"));
    }

    [Fact]
    public void ASecondBootIsIgnored()
    {
        var host = Booted(NewHost());
        var d = host.Boot();
        Assert.Empty(Kinds(d));
    }

    [Fact]
    public void EventsBeforeBootAreIgnored()
    {
        var host = NewHost();
        var d = host.Send(new SwitchRequested("1.1.0"));
        Assert.Empty(Kinds(d));
        Assert.Null(d.State.Trial);
    }

    // SwitchRequested

    [Fact]
    public void ASwitchWritesATrialWithOneTryThenStopsTheOldAgentAndStartsTheNewOne()
    {
        var host = Booted(NewHost());
        var d = host.Send(new SwitchRequested("1.1.0"));

        Assert.Equal([typeof(PersistState), typeof(StopAgent), typeof(StartAgent), typeof(ScheduleTick)], Kinds(d));
        Assert.False(d.Actions.OfType<StopAgent>().Single().Kill);
        Assert.Equal("1.1.0", d.Actions.OfType<StartAgent>().Single().Version);
        Assert.Equal(_clock.Now + Deadline, d.Actions.OfType<ScheduleTick>().Single().At);
        var trial = d.State.Trial!;
        Assert.Equal(("1.1.0", "1.0.0", 1, 3, _clock.Now), (trial.Version, trial.From, trial.Tries, trial.MaxTries, trial.StartedAt));
        Assert.Equal("1.0.0", d.State.Current);
    }

    [Theory]
    [InlineData("1.0.0", "already the current version")]
    [InlineData("0.9.0", "not newer")]
    [InlineData("1.0.0-rc.1", "not newer")]
    [InlineData("1.0.0+build.7", "not newer")]
    [InlineData("one", "not a semantic version")]
    public void ASwitchToAVersionThatIsNotNewerIsRefusedAndChangesNothing(string version, string reason)
    {
        var host = Booted(NewHost());
        var d = host.Send(new SwitchRequested(version));
        Assert.Empty(Kinds(d));
        Assert.Contains(reason, Logs(d), StringComparison.Ordinal);
        Assert.Null(host.ReadDisk().Trial);
        Assert.Equal("1.0.0", host.Running);
    }

    [Fact]
    public void ASwitchIsRefusedWhileATrialRuns()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        var d = host.Send(new SwitchRequested("1.2.0"));
        Assert.Empty(Kinds(d));
        Assert.Contains("trial of 1.1.0 is in progress", Logs(d), StringComparison.Ordinal);
        Assert.Equal("1.1.0", host.ReadDisk().Trial!.Version);
    }

    [Fact]
    public void ASwitchToABadVersionIsRefused()
    {
        var state = InstallState.ForInstall("1.0.0", _clock.Now);
        state.Bad.Add("1.1.0");
        var host = new KeeperHost(_machine, state, _clock);
        host.Boot();
        var d = host.Send(new SwitchRequested("1.1.0"));
        Assert.Empty(Kinds(d));
        Assert.Contains("marked bad", Logs(d), StringComparison.Ordinal);
    }

    [Fact]
    public void AnOlderVersionIsTakenWhenTheSwitchExplicitlyAllowsIt()
    {
        var host = Booted(NewHost("1.2.0"));
        var d = host.Send(new SwitchRequested("1.1.0", AllowOlder: true));
        Assert.Equal("1.1.0", d.State.Trial!.Version);
        host.Send(new AgentReady("1.1.0"));
        Assert.Equal(("1.1.0", "1.2.0"), (host.ReadDisk().Current, host.ReadDisk().Previous));
    }

    [Fact]
    public void ASwitchDuringARestartBackoffStartsTheTrialWithoutStoppingAnything()
    {
        var host = Booted(NewHost());
        host.Send(new AgentExited(1));
        var d = host.Send(new SwitchRequested("1.1.0"));
        Assert.Equal([typeof(PersistState), typeof(StartAgent), typeof(ScheduleTick)], Kinds(d));
        Assert.Null(d.Runtime.RestartAt);
    }

    // AgentReady

    [Fact]
    public void ReadinessOfTheTrialVersionCommitsIt()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        _clock.Advance(TimeSpan.FromSeconds(5));
        var d = host.Send(new AgentReady("1.1.0"));

        Assert.Equal([typeof(PersistState)], Kinds(d));
        var disk = host.ReadDisk();
        Assert.Equal(("1.1.0", "1.0.0", (TrialState?)null, _clock.Now), (disk.Current, disk.Previous, disk.Trial, disk.CommittedAt));
        Assert.True(d.Runtime.AgentReady);
        Assert.Equal("1.1.0", host.Running);
    }

    [Fact]
    public void ReadinessOfTheCurrentVersionOnlyMarksTheAgentReady()
    {
        var host = Booted(NewHost());
        var d = host.Send(new AgentReady("1.0.0"));
        Assert.Empty(Kinds(d));
        Assert.True(d.Runtime.AgentReady);
    }

    [Fact]
    public void ReadinessFromAVersionThatIsNotRunningIsIgnored()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        var d = host.Send(new AgentReady("1.0.0")); // a late report from the agent just stopped
        Assert.Empty(Kinds(d));
        Assert.False(d.Runtime.AgentReady);
        Assert.NotNull(d.State.Trial);
    }

    [Fact]
    public void ReadinessReportedAtTheDeadlineCountsAsAHang()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        _clock.Advance(Deadline);
        var d = host.Send(new AgentReady("1.1.0"));

        Assert.Equal([typeof(PersistState), typeof(StopAgent), typeof(StartAgent), typeof(ScheduleTick)], Kinds(d));
        Assert.True(d.Actions.OfType<StopAgent>().Single().Kill);
        Assert.Equal("1.0.0", host.ReadDisk().Current);
        Assert.Equal(2, host.ReadDisk().Trial!.Tries);
    }

    // AgentExited

    [Fact]
    public void AnExitDuringATrialUsesATryAndStartsTheTrialAgainAtOnce()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        _clock.Advance(TimeSpan.FromSeconds(3));
        var d = host.Send(new AgentExited(1));

        Assert.Equal([typeof(PersistState), typeof(StartAgent), typeof(ScheduleTick)], Kinds(d));
        Assert.Equal(2, host.ReadDisk().Trial!.Tries);
        Assert.Equal("1.1.0", host.Running);
        Assert.Equal(_clock.Now + Deadline, d.Actions.OfType<ScheduleTick>().Single().At);
    }

    [Fact]
    public void AfterMaxTriesExitsTheKeeperRollsBackAndMarksTheVersionBad()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        host.Send(new AgentExited(1));
        host.Send(new AgentExited(1));
        var d = host.Send(new AgentExited(139));

        Assert.Equal([typeof(PersistState), typeof(StartAgent)], Kinds(d));
        var disk = host.ReadDisk();
        Assert.Equal(("1.0.0", (TrialState?)null), (disk.Current, disk.Trial));
        Assert.Equal(["1.1.0"], disk.Bad);
        Assert.Equal("1.0.0", host.Running);
        Assert.Equal(3, host.Starts.Count(v => v == "1.1.0"));
        Assert.Contains("rolling back", Logs(d), StringComparison.Ordinal);
    }

    [Fact]
    public void AnExitOfTheCommittedVersionRestartsItAfterAnExponentialBackoff()
    {
        var host = Booted(NewHost());
        var waits = new List<TimeSpan>();
        for (var i = 0; i < 9; i++)
        {
            var d = host.Send(new AgentExited(1));
            Assert.Equal([typeof(ScheduleTick)], Kinds(d));
            var at = d.Actions.OfType<ScheduleTick>().Single().At;
            waits.Add(at - _clock.Now);
            _clock.Now = at;
            host.Send(new Tick());
            Assert.Equal("1.0.0", host.Running);
        }
        Assert.Equal([1, 2, 4, 8, 16, 32, 60, 60, 60], waits.Select(w => w.TotalSeconds));
        Assert.Empty(host.ReadDisk().Bad);
    }

    [Fact]
    public void TheRestartWaitsForItsTickToComeDue()
    {
        var host = Booted(NewHost());
        host.Send(new AgentExited(1));
        host.Send(new AgentExited(1)); // stale: nothing runs
        _clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Empty(Kinds(host.Send(new Tick())));
        Assert.Null(host.Running);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal([typeof(StartAgent)], Kinds(host.Send(new Tick())));
        Assert.Equal("1.0.0", host.Running);
    }

    [Fact]
    public void TheBackoffStartsAfreshAfterTheAgentStayedUpLongEnough()
    {
        var host = Booted(NewHost());
        for (var i = 0; i < 4; i++)
        {
            var d = host.Send(new AgentExited(1));
            _clock.Now = d.Actions.OfType<ScheduleTick>().Single().At;
            host.Send(new Tick());
        }
        Assert.Equal(4, host.Snapshot.Runtime.ConsecutiveFailures);
        _clock.Advance(KeeperPolicy.Default.StableAfter);
        var next = host.Send(new AgentExited(1));
        Assert.Equal(_clock.Now + TimeSpan.FromSeconds(1), next.Actions.OfType<ScheduleTick>().Single().At);
        Assert.Equal(1, next.Runtime.ConsecutiveFailures);
    }

    [Fact]
    public void AnExitReportedWhenNoAgentRunsIsIgnored()
    {
        var host = Booted(NewHost());
        var first = host.Send(new AgentExited(1));
        var d = host.Send(new AgentExited(1));
        Assert.Empty(Kinds(d));
        Assert.Contains("no agent is running", Logs(d), StringComparison.Ordinal);
        Assert.Equal(first.Runtime, d.Runtime);
    }

    // Tick

    [Fact]
    public void ATrialThatHangsPastItsDeadlineIsKilledAndCountedLikeAnExit()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        _clock.Advance(Deadline - TimeSpan.FromTicks(1));
        Assert.Empty(Kinds(host.Send(new Tick())));

        _clock.Advance(TimeSpan.FromTicks(1));
        var d = host.Send(new Tick());
        Assert.Equal([typeof(PersistState), typeof(StopAgent), typeof(StartAgent), typeof(ScheduleTick)], Kinds(d));
        Assert.True(d.Actions.OfType<StopAgent>().Single().Kill);
        Assert.Equal(2, host.ReadDisk().Trial!.Tries);
        Assert.Equal(_clock.Now + Deadline, d.Actions.OfType<ScheduleTick>().Single().At);
    }

    [Fact]
    public void ATrialThatHangsOnEveryTryIsRolledBack()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        KeeperDecision d = null!;
        for (var i = 0; i < 3; i++)
        {
            _clock.Advance(Deadline);
            d = host.Send(new Tick());
        }
        Assert.Equal([typeof(PersistState), typeof(StopAgent), typeof(StartAgent)], Kinds(d));
        Assert.True(d.Actions.OfType<StopAgent>().Single().Kill);
        Assert.Equal(["1.1.0"], host.ReadDisk().Bad);
        Assert.Equal("1.0.0", host.Running);
    }

    [Fact]
    public void AStaleTickChangesNothing()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        host.Send(new AgentReady("1.1.0"));
        _clock.Advance(Deadline * 2);
        var d = host.Send(new Tick());
        Assert.Empty(d.Actions);
    }

    // A bad version

    [Fact]
    public void ABadVersionIsNeverTriedAgain()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        for (var i = 0; i < 3; i++)
        {
            host.Send(new AgentExited(1));
        }
        var startsBefore = host.Starts.Count(v => v == "1.1.0");

        host.Send(new SwitchRequested("1.1.0"));
        host.Send(new SwitchRequested("1.1.0", AllowOlder: true));
        host.Crash();
        host.Send(new RollbackRequested());
        host.Send(new SwitchRequested("1.1.0"));

        Assert.Equal(startsBefore, host.Starts.Count(v => v == "1.1.0"));
        Assert.Equal("1.0.0", host.Running);

        host.Send(new SwitchRequested("1.1.1")); // the fix ships as a new version
        Assert.Equal("1.1.1", host.Running);
    }

    // RollbackRequested

    [Fact]
    public void AnOperatorRollbackDuringATrialAbortsItAndMarksTheTrialVersionBad()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        var d = host.Send(new RollbackRequested());

        Assert.Equal([typeof(PersistState), typeof(StopAgent), typeof(StartAgent)], Kinds(d));
        var disk = host.ReadDisk();
        Assert.Equal(("1.0.0", (string?)null, (TrialState?)null), (disk.Current, disk.Previous, disk.Trial));
        Assert.Equal(["1.1.0"], disk.Bad);
        Assert.Equal("1.0.0", host.Running);
    }

    [Fact]
    public void AnOperatorRollbackReturnsToThePreviousVersionAndMarksTheCurrentOneBad()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        host.Send(new AgentReady("1.1.0"));
        _clock.Advance(TimeSpan.FromHours(1));
        var d = host.Send(new RollbackRequested());

        Assert.Equal([typeof(PersistState), typeof(StopAgent), typeof(StartAgent)], Kinds(d));
        var disk = host.ReadDisk();
        Assert.Equal(("1.0.0", (string?)null, _clock.Now), (disk.Current, disk.Previous, disk.CommittedAt));
        Assert.Equal(["1.1.0"], disk.Bad);
        Assert.Equal("1.0.0", host.Running);
    }

    [Fact]
    public void AnOperatorRollbackWithNoPreviousVersionOnlySaysSo()
    {
        var host = Booted(NewHost());
        var d = host.Send(new RollbackRequested());
        Assert.Empty(Kinds(d));
        Assert.Contains("nothing to roll back to", Logs(d), StringComparison.Ordinal);

        host.Send(new SwitchRequested("1.1.0"));
        host.Send(new AgentReady("1.1.0"));
        host.Send(new RollbackRequested());
        Assert.Contains("nothing to roll back to", Logs(host.Send(new RollbackRequested())), StringComparison.Ordinal);
        Assert.Equal("1.0.0", host.Running);
    }

    // StopRequested

    [Fact]
    public void AStopStopsTheAgentExitsAndLeavesThePendingTrialCounted()
    {
        var host = Booted(NewHost());
        host.Send(new SwitchRequested("1.1.0"));
        var d = host.Send(new StopRequested());

        Assert.Equal([typeof(StopAgent), typeof(ExitKeeper)], Kinds(d));
        Assert.False(d.Actions.OfType<StopAgent>().Single().Kill);
        Assert.True(host.Exited);
        Assert.Equal(1, host.ReadDisk().Trial!.Tries);

        Assert.Empty(Kinds(host.Send(new AgentReady("1.1.0"))));
        Assert.Empty(Kinds(host.Send(new SwitchRequested("1.2.0"))));

        host.Crash(); // the service manager starts the keeper again
        Assert.Equal(2, host.ReadDisk().Trial!.Tries);
    }

    [Fact]
    public void AStopDuringARestartBackoffCancelsTheRestart()
    {
        var host = Booted(NewHost());
        host.Send(new AgentExited(1));
        var d = host.Send(new StopRequested());
        Assert.Equal([typeof(ExitKeeper)], Kinds(d));
        _clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Empty(Kinds(host.Send(new Tick())));
        Assert.Null(host.Running);
    }

    // The machine itself

    [Fact]
    public void DecideNeverChangesTheSnapshotItWasGiven()
    {
        var state = InstallState.ForInstall("1.0.0", _clock.Now);
        state.Trial = new TrialState { Version = "1.1.0", From = "1.0.0", Tries = 3, MaxTries = 3, StartedAt = _clock.Now };
        var before = KeeperHost.Json(state);
        var d = _machine.Decide(KeeperSnapshot.Starting(state), new Boot(), _clock.Now);
        Assert.Equal(before, KeeperHost.Json(state));
        Assert.NotSame(state, d.State);
        Assert.NotSame(d.State, d.Actions.OfType<PersistState>().Single().State);
    }

    [Fact]
    public void AnImpossiblePolicyIsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new KeeperMachine(KeeperPolicy.Default with { MaxTries = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KeeperMachine(KeeperPolicy.Default with { TrialDeadline = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KeeperMachine(KeeperPolicy.Default with { RestartBackoffCap = TimeSpan.FromMilliseconds(1) }));
    }
}
