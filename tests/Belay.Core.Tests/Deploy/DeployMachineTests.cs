using Belay.Core.Deploy;
using Belay.Core.IO;
using Belay.TestSupport;

namespace Belay.Core.Tests.Deploy;

public sealed class DeployMachineTests
{
    private static readonly DeployStep[] InstallSteps =
    [
        DeployStep.Precheck, DeployStep.Fetch, DeployStep.PreInstall, DeployStep.Unpack, DeployStep.PostInstall,
        DeployStep.PreStart, DeployStep.Exec, DeployStep.PostStart, DeployStep.Health,
    ];

    private static readonly DeployStep[] UpdateSteps =
    [
        DeployStep.Precheck, DeployStep.Fetch, DeployStep.PreInstall, DeployStep.Unpack, DeployStep.PostInstall, DeployStep.Stop,
        DeployStep.PreStart, DeployStep.Exec, DeployStep.PostStart, DeployStep.Health,
    ];

    private readonly FakeClock _clock = new();
    private readonly DeployMachine _machine = new();

    private static AppTarget Want(string version, AppDesiredState state = AppDesiredState.Running, string? env = null, long sequence = 1) => new()
    {
        Name = "shop",
        Version = version,
        State = state,
        Artifact = new AppArtifact("linux-x64", $"apps/shop/{version}/shop-{version}-linux-x64.tar.gz", new string('a', 64), 100),
        Settings = new AppSettings { Env = env is null ? [] : [new EnvEntry("MODE", env)] },
        Sequence = sequence,
    };

    /// <summary>Drives the machine as the runner does: each RunStep is answered by <see cref="Outcome"/> (success by default).</summary>
    private sealed class Driver(DeployMachine machine, FakeClock clock)
    {
        public AppJournal Journal { get; private set; } = new() { Name = "shop" };
        public List<DeployAction> Actions { get; } = [];
        public List<DeployStep> Ran { get; } = [];
        public Func<DeployStep, StepOutcome?> Outcome { get; set; } = _ => null;

        /// <summary>Stop answering steps (as an agent killed mid-step).</summary>
        public DeployStep? CrashAt { get; set; }

        public DeployDecision Send(DeployEvent e)
        {
            var queue = new Queue<DeployEvent>([e]);
            DeployDecision? first = null;
            while (queue.TryDequeue(out var next))
            {
                var d = machine.Decide(Journal, next, clock.Now);
                first ??= d;
                Journal = d.Journal;
                Actions.AddRange(d.Actions);
                foreach (var run in d.Actions.OfType<RunStep>())
                {
                    Ran.Add(run.Step);
                    if (CrashAt == run.Step)
                    {
                        return first;
                    }
                    clock.Advance(TimeSpan.FromSeconds(1));
                    var outcome = Outcome(run.Step);
                    queue.Enqueue(outcome?.Reason is null ? new StepSucceeded(run.Step, outcome ?? StepOutcome.Done) : new StepFailed(run.Step, outcome));
                }
            }
            return first!;
        }

        public void Restart()
        {
            CrashAt = null;
            Send(new AgentStarted());
        }
    }

    private Driver NewDriver() => new(_machine, _clock);

    private Driver Installed(string version = "1.0.0")
    {
        var driver = NewDriver();
        driver.Send(new DesiredChanged(Want(version)));
        Assert.Equal(version, driver.Journal.Current);
        driver.Actions.Clear();
        driver.Ran.Clear();
        return driver;
    }

    [Fact]
    public void AFreshInstallRunsEveryStepInOrderJournalingEachBeforeItsEffectAndCommits()
    {
        var driver = NewDriver();
        driver.Send(new DesiredChanged(Want("1.0.0")));

        Assert.Equal(InstallSteps, driver.Ran);
        // Each RunStep is preceded by the write of a journal that names that step.
        for (var i = 0; i < driver.Actions.Count; i++)
        {
            if (driver.Actions[i] is RunStep run)
            {
                var persist = driver.Actions.Take(i).OfType<PersistJournal>().Last();
                Assert.Equal(run.Step, persist.Journal.Deploy!.Step);
                Assert.Equal(CrashPoint.DeployStepJournaled, persist.Point);
            }
        }
        var j = driver.Journal;
        Assert.Equal("1.0.0", j.Current);
        Assert.Null(j.Previous);
        Assert.True(j.Running);
        Assert.Null(j.Deploy);
        Assert.Equal("converged", j.Describe());
        var report = Assert.Single(j.History);
        Assert.Equal(("ok", "commit", "install", 0), (report.Result, report.Step, report.Kind, report.ExitCode));
        Assert.Equal(CrashPoint.DeployCommitted, driver.Actions.OfType<PersistJournal>().Last().Point);
        Assert.Equal(["1.0.0"], driver.Actions.OfType<PruneReleases>().Single().Keep);
    }

    [Fact]
    public void AnUpdateStopsTheOldReleaseAfterPostInstallAndKeepsItAsPrevious()
    {
        var driver = Installed();
        driver.Send(new DesiredChanged(Want("1.1.0")));
        Assert.Equal(UpdateSteps, driver.Ran);
        var stop = driver.Actions.OfType<RunStep>().Single(r => r.Step == DeployStep.Stop);
        Assert.Equal(("1.0.0", true), (stop.Deploy.From, stop.Deploy.FromRunning));
        Assert.Equal(("1.1.0", "1.0.0"), (driver.Journal.Current, driver.Journal.Previous));
        Assert.Equal(["1.1.0", "1.0.0"], driver.Actions.OfType<PruneReleases>().Single().Keep);
    }

    [Fact]
    public void ANewVersionThatIsToBeStoppedIsInstalledAndTheOldOneStoppedWithoutStartingIt()
    {
        var driver = Installed();
        driver.Send(new DesiredChanged(Want("1.1.0", AppDesiredState.Stopped)));
        Assert.Equal(UpdateSteps[..6], driver.Ran);
        Assert.Equal("1.1.0", driver.Journal.Current);
        Assert.False(driver.Journal.Running);
        Assert.Equal("stopped", driver.Journal.Describe());
    }

    [Fact]
    public void StopThenStartOfTheSameReleaseRunOnlyTheirSteps()
    {
        var driver = Installed();
        driver.Send(new DesiredChanged(Want("1.0.0", AppDesiredState.Stopped)));
        Assert.Equal([DeployStep.Stop], driver.Ran);
        Assert.False(driver.Journal.Running);
        driver.Ran.Clear();
        driver.Send(new DesiredChanged(Want("1.0.0")));
        Assert.Equal([DeployStep.PreStart, DeployStep.Exec, DeployStep.PostStart, DeployStep.Health], driver.Ran);
        Assert.True(driver.Journal.Running);
        Assert.Equal(["stop", "start"], driver.Journal.History.Skip(1).Select(h => h.Kind));
    }

    [Fact]
    public void AbsentStopsRunsTheUninstallHookRemovesAndForgetsTheRelease()
    {
        var driver = Installed();
        driver.Send(new DesiredChanged(AppTarget.Absent("shop")));
        Assert.Equal([DeployStep.Stop, DeployStep.Uninstall, DeployStep.Remove], driver.Ran);
        Assert.Equal("1.0.0", driver.Actions.OfType<RunStep>().First(r => r.Step == DeployStep.Uninstall).Deploy.Version);
        Assert.Null(driver.Journal.Current);
        Assert.Null(driver.Journal.Previous);
        Assert.Equal("absent", driver.Journal.Describe());
        // Absent again: nothing to do.
        driver.Ran.Clear();
        driver.Send(new DesiredChanged(AppTarget.Absent("shop", 2)));
        Assert.Empty(driver.Ran);
    }

    [Fact]
    public void AFailingUninstallHookIsLoggedAndTheReleaseIsRemovedAnyway()
    {
        var driver = Installed();
        driver.Outcome = s => s == DeployStep.Uninstall ? StepOutcome.Failed("uninstall exited 3", 3) : null;
        driver.Send(new DesiredChanged(AppTarget.Absent("shop")));
        Assert.Equal([DeployStep.Stop, DeployStep.Uninstall, DeployStep.Remove], driver.Ran);
        Assert.Null(driver.Journal.Current);
        Assert.Contains(driver.Actions.OfType<DeployLog>(), l => l.Warning && l.Message.Contains("uninstall failed: uninstall exited 3", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(DeployStep.PreInstall)]
    [InlineData(DeployStep.PostInstall)]
    public void AFailureBeforeTheStopMarksTheRevisionBadKeepsTheOldReleaseRunningAndDiscardsTheNewOne(DeployStep failing)
    {
        var driver = Installed();
        driver.Outcome = s => s == failing ? StepOutcome.Failed($"{LifecycleNames.Of(s)} exited 1", 1, "boom\n") : null;
        driver.Send(new DesiredChanged(Want("1.1.0")));
        Assert.DoesNotContain(DeployStep.Stop, driver.Ran);
        var j = driver.Journal;
        Assert.Equal(("1.0.0", true), (j.Current, j.Running));
        Assert.Equal("1.1.0", Assert.Single(j.Bad).Version);
        Assert.Equal("failed", j.Describe());
        var report = j.History[^1];
        Assert.Equal(("failed", LifecycleNames.Of(failing), 1), (report.Result, report.Step, report.ExitCode));
        Assert.EndsWith("boom\n", report.Output, StringComparison.Ordinal);
        Assert.Equal("1.1.0", driver.Actions.OfType<DiscardRelease>().Single().Version);
        Assert.Equal(CrashPoint.DeployFailed, driver.Actions.OfType<PersistJournal>().Last().Point);

        // The same revision is not tried again, however often it is published.
        driver.Ran.Clear();
        driver.Send(new DesiredChanged(Want("1.1.0", sequence: 2)));
        driver.Send(new RetryDue());
        Assert.Empty(driver.Ran);
    }

    [Theory]
    [InlineData(DeployStep.PreStart)]
    [InlineData(DeployStep.Exec)]
    [InlineData(DeployStep.PostStart)]
    [InlineData(DeployStep.Health)]
    public void AFailureAfterTheStopMarksBadFirstThenRestoresThePreviousReleaseAndReportsTheFailingStep(DeployStep failing)
    {
        var driver = Installed();
        driver.Outcome = s => s == failing ? StepOutcome.Failed("it broke", 7, "tail of output\n") : null;
        driver.Send(new DesiredChanged(Want("1.1.0")));

        var restore = driver.Actions.OfType<RunStep>().Single(r => r.Step == DeployStep.Restore);
        var persisted = driver.Actions.TakeWhile(a => a != restore).OfType<PersistJournal>().Last().Journal;
        Assert.Equal(DeployStep.Restore, persisted.Deploy!.Step);
        Assert.True(persisted.IsBad(Want("1.1.0").Revision), "the bad mark is on disk before the restore begins");
        Assert.Equal(("1.0.0", true), (restore.Deploy.From, restore.Deploy.FromRunning));
        Assert.Equal(failing, restore.Deploy.Failure!.Step);

        var j = driver.Journal;
        Assert.Equal(("1.0.0", true, (string?)null), (j.Current, j.Running, j.Previous));
        var report = j.History[^1];
        Assert.Equal(("rolled-back", LifecycleNames.Of(failing), 7, "it broke"), (report.Result, report.Step, report.ExitCode, report.Reason));
        Assert.Contains("tail of output", report.Output, StringComparison.Ordinal);
        Assert.Equal("1.1.0", driver.Actions.OfType<DiscardRelease>().Single().Version);
    }

    [Fact]
    public void ANewVersionAfterABadOneDeploysNormallyAndClearsTheTombstone()
    {
        var driver = Installed();
        driver.Outcome = s => s == DeployStep.Health ? StepOutcome.Failed("never healthy") : null;
        driver.Send(new DesiredChanged(Want("1.1.0")));
        driver.Outcome = _ => null;
        driver.Ran.Clear();
        driver.Send(new DesiredChanged(Want("1.2.0", sequence: 2)));
        Assert.Equal(UpdateSteps, driver.Ran);
        Assert.Equal(("1.2.0", "1.0.0"), (driver.Journal.Current, driver.Journal.Previous));
        Assert.Empty(driver.Journal.Bad);
        // And the once bad version, named again later, is tried again.
        driver.Ran.Clear();
        driver.Send(new DesiredChanged(Want("1.1.0", sequence: 3)));
        Assert.Equal(UpdateSteps, driver.Ran);
    }

    [Fact]
    public void TheSameVersionWithAFixedEnvironmentIsAnotherRevisionAndIsTried()
    {
        var driver = Installed();
        driver.Outcome = s => s == DeployStep.Health ? StepOutcome.Failed("never healthy") : null;
        driver.Send(new DesiredChanged(Want("1.0.0", env: "broken")));
        Assert.Equal([DeployStep.Stop, DeployStep.PreStart, DeployStep.Exec, DeployStep.PostStart, DeployStep.Health, DeployStep.Restore], driver.Ran);
        var restore = driver.Actions.OfType<RunStep>().Single(r => r.Step == DeployStep.Restore);
        Assert.Empty(restore.Deploy.FromSettings!.Env);
        Assert.Empty(driver.Journal.CurrentSettings!.Env);
        Assert.Empty(driver.Actions.OfType<DiscardRelease>());
        Assert.Equal("rolled-back", driver.Journal.History[^1].Result);

        driver.Outcome = _ => null;
        driver.Send(new DesiredChanged(Want("1.0.0", env: "fixed", sequence: 2)));
        Assert.Equal("fixed", driver.Journal.CurrentSettings!.Env.Single().Value);
        Assert.Equal("reconfigure", driver.Journal.History[^1].Kind);
    }

    [Fact]
    public void AFreshInstallThatFailsAfterExecStopsTheNewReleaseAndLeavesNothingInstalled()
    {
        var driver = NewDriver();
        driver.Outcome = s => s == DeployStep.Health ? StepOutcome.Failed("never healthy") : null;
        driver.Send(new DesiredChanged(Want("1.0.0")));
        var restore = driver.Actions.OfType<RunStep>().Single(r => r.Step == DeployStep.Restore);
        Assert.Null(restore.Deploy.From);
        Assert.Null(driver.Journal.Current);
        Assert.False(driver.Journal.Running);
        Assert.Equal("failed", driver.Journal.History[^1].Result);
        Assert.Equal("failed", driver.Journal.Describe());
    }

    [Fact]
    public void AFetchFailureIsRetriedWithABackoffAndIsNotAVerdictOnTheVersion()
    {
        var driver = Installed();
        driver.Outcome = s => s == DeployStep.Fetch ? StepOutcome.Failed("feed unreachable") : null;
        driver.Send(new DesiredChanged(Want("1.1.0")));
        Assert.Empty(driver.Journal.Bad);
        var first = driver.Journal.Retry!;
        Assert.Equal(1, first.Count);
        Assert.Equal(_clock.Now + TimeSpan.FromSeconds(30), first.At);
        Assert.Equal(first.At, driver.Actions.OfType<ScheduleRetry>().Single().At);

        driver.Ran.Clear();
        driver.Send(new RetryDue());
        Assert.Empty(driver.Ran);
        _clock.Advance(TimeSpan.FromSeconds(30));
        driver.Send(new RetryDue());
        Assert.Equal([DeployStep.Precheck, DeployStep.Fetch], driver.Ran);
        Assert.Equal(2, driver.Journal.Retry!.Count);
        Assert.Equal(_clock.Now + TimeSpan.FromSeconds(60), driver.Journal.Retry.At);

        _clock.Advance(TimeSpan.FromMinutes(1));
        driver.Outcome = _ => null;
        driver.Send(new RetryDue());
        Assert.Equal("1.1.0", driver.Journal.Current);
        Assert.Null(driver.Journal.Retry);
    }

    [Fact]
    public void APermanentPrecheckFailureMarksTheRevisionBad()
    {
        var driver = Installed();
        driver.Outcome = s => s == DeployStep.Precheck ? StepOutcome.Failed("secret DB_PASSWORD does not decrypt", permanent: true) : null;
        driver.Send(new DesiredChanged(Want("1.1.0")));
        Assert.True(driver.Journal.IsBad(Want("1.1.0").Revision));
        Assert.Null(driver.Journal.Retry);
        Assert.Equal("1.0.0", driver.Journal.Current);
    }

    [Fact]
    public void ADesiredStateThatChangesDuringADeployIsJournaledAndTakenUpWhenItEnds()
    {
        var driver = Installed();
        driver.CrashAt = DeployStep.Health; // the health gate is running, no answer yet
        driver.Send(new DesiredChanged(Want("1.1.0")));
        driver.CrashAt = null;
        var during = driver.Send(new DesiredChanged(Want("1.2.0", sequence: 2)));
        Assert.Equal("1.2.0", driver.Journal.Desired!.Version);
        Assert.Equal("1.1.0", driver.Journal.Deploy!.Version);
        Assert.Empty(during.Actions.OfType<RunStep>());

        driver.Ran.Clear();
        driver.Send(new StepSucceeded(DeployStep.Health, StepOutcome.Done));
        Assert.Equal(UpdateSteps, driver.Ran);
        Assert.Equal(("1.2.0", "1.1.0"), (driver.Journal.Current, driver.Journal.Previous));
    }

    [Fact]
    public void AReportForAnotherStepIsStaleAndIgnored()
    {
        var driver = Installed();
        driver.CrashAt = DeployStep.Health;
        driver.Send(new DesiredChanged(Want("1.1.0")));
        var before = driver.Journal;
        var d = _machine.Decide(before, new StepFailed(DeployStep.Exec, StepOutcome.Failed("late")), _clock.Now);
        Assert.Same(before, d.Journal);
        Assert.All(d.Actions, a => Assert.IsType<DeployLog>(a));
    }

    [Fact]
    public void AnUnchangedDesiredStateDecidesNothing()
    {
        var driver = Installed();
        var d = driver.Send(new DesiredChanged(Want("1.0.0")));
        Assert.Empty(d.Actions);
    }

    [Fact]
    public void ARolloutThatDoesNotAdmitTheHostLeavesTheAppAsItIs()
    {
        var driver = Installed();
        driver.Send(new DesiredChanged(Want("1.1.0") with { Admitted = false }));
        Assert.Empty(driver.Ran);
        Assert.Equal("1.0.0", driver.Journal.Current);
        Assert.Equal("converged", driver.Journal.Describe());
    }

    [Fact]
    public void AtStartWithNoDeployTheInstalledReleaseIsAppliedAsJournaled()
    {
        var driver = Installed();
        var d = driver.Send(new AgentStarted());
        var apply = Assert.Single(d.Actions.OfType<ApplyRelease>());
        Assert.Equal(("1.0.0", true), (apply.Version, apply.Run));
        Assert.Empty(d.Actions.OfType<PersistJournal>());
    }

    public static TheoryData<DeployStep> UpdateStepsData => new(UpdateSteps);

    [Theory]
    [MemberData(nameof(UpdateStepsData))]
    public void AnAgentKilledDuringAStepResumesItOrFailsItAtOnceAndEndsOnExactlyOneRelease(DeployStep killedAt)
    {
        var driver = Installed();
        driver.CrashAt = killedAt;
        driver.Send(new DesiredChanged(Want("1.1.0")));
        Assert.Equal(killedAt, driver.Journal.Deploy!.Step);

        driver.Actions.Clear();
        driver.Ran.Clear();
        driver.Restart();
        var resumed = killedAt is DeployStep.Precheck or DeployStep.Fetch or DeployStep.Unpack or DeployStep.Exec or DeployStep.Health;
        var j = driver.Journal;
        Assert.Null(j.Deploy);
        if (resumed)
        {
            Assert.Equal(killedAt, driver.Ran[0]);
            Assert.Equal(("1.1.0", "1.0.0", true), (j.Current, j.Previous, j.Running));
        }
        else
        {
            var report = j.History[^1];
            Assert.Equal(LifecycleNames.Of(killedAt), report.Step);
            Assert.Equal($"agent restarted during {LifecycleNames.Of(killedAt)}", report.Reason);
            Assert.Equal(("1.0.0", true), (j.Current, j.Running));
            Assert.True(j.IsBad(Want("1.1.0").Revision));
            var pastStop = killedAt is DeployStep.Stop or DeployStep.PreStart or DeployStep.PostStart;
            Assert.Equal(pastStop ? [DeployStep.Restore] : [], driver.Ran);
            Assert.Equal(pastStop ? "rolled-back" : "failed", report.Result);
        }
        // Before the stop, the old release is applied (adopted) first.
        var beforeStop = killedAt is DeployStep.Precheck or DeployStep.Fetch or DeployStep.PreInstall or DeployStep.Unpack or DeployStep.PostInstall;
        Assert.Equal(beforeStop, driver.Actions.OfType<ApplyRelease>().Any(a => a.Version == "1.0.0" && a.Run));
    }

    [Fact]
    public void AnAgentKilledDuringTheRestoreResumesTheRestore()
    {
        var driver = Installed();
        driver.Outcome = s => s == DeployStep.Health ? StepOutcome.Failed("never healthy") : null;
        driver.CrashAt = DeployStep.Restore;
        driver.Send(new DesiredChanged(Want("1.1.0")));
        driver.Ran.Clear();
        driver.Restart();
        Assert.Equal([DeployStep.Restore], driver.Ran);
        Assert.Equal("rolled-back", driver.Journal.History[^1].Result);
        Assert.Equal("health", driver.Journal.History[^1].Step);
    }

    [Fact]
    public void TheHistoryKeepsTheLastTwentyDeploysAndTheOutputItsLastFourKiB()
    {
        var driver = NewDriver();
        driver.Outcome = s => s == DeployStep.PostInstall ? new StepOutcome { Output = new string('x', 3000) + "\n" } : null;
        for (var i = 0; i < 25; i++)
        {
            driver.Send(new DesiredChanged(Want($"1.0.{i}", sequence: i + 1)));
        }
        Assert.Equal(AppJournal.HistoryLength, driver.Journal.History.Count);
        Assert.Equal("1.0.24", driver.Journal.History[^1].Version);
        Assert.Equal("1.0.5", driver.Journal.History[0].Version);
        Assert.Equal(OutputTail.MaxBytes, OutputTail.Append(new string('a', 3000), new string('b', 3000)).Length);
        Assert.Equal("é", OutputTail.Keep(new string('a', 4095) + "é")[^1..]);
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(OutputTail.Keep(new string('é', 3000))) <= OutputTail.MaxBytes);
    }

    [Fact]
    public void TheJournalRoundTripsThroughItsFile()
    {
        var driver = Installed();
        driver.CrashAt = DeployStep.Health;
        driver.Send(new DesiredChanged(Want("1.1.0", env: "prod")));
        var bytes = AppJournalStore.Serialize(driver.Journal);
        var back = AppJournalStore.Parse(bytes, "shop.json");
        Assert.Equal(AppJournalStore.Serialize(back), bytes);
        Assert.Equal(DeployStep.Health, back.Deploy!.Step);
        Assert.Equal(driver.Journal.Desired, back.Desired);
        Assert.Contains("\"step\": \"Health\"", System.Text.Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);
    }
}
