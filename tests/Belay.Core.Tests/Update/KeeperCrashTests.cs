using Belay.Core.Update;
using Belay.TestSupport;

namespace Belay.Core.Tests.Update;

/// <summary>
/// The keeper crashing at every step: before and after each write of state.json, and at
/// random points of random event sequences. <see cref="KeeperHost"/> checks after every
/// decision and every restart that Current is the initial version or one that reported
/// ready, never a bad one, and that the agent running is Current or the trial version.
/// </summary>
public sealed class KeeperCrashTests
{
    private static readonly TimeSpan Deadline = KeeperPolicy.Default.TrialDeadline;

    private static readonly Dictionary<string, (TimeSpan Advance, KeeperEvent Event)[]> Scripts = new()
    {
        ["an upgrade that commits"] =
        [
            (TimeSpan.Zero, new Boot()), (TimeSpan.FromSeconds(2), new AgentReady("1.0.0")),
            (TimeSpan.FromHours(1), new SwitchRequested("1.1.0")), (TimeSpan.FromSeconds(5), new AgentReady("1.1.0")),
            (TimeSpan.FromHours(1), new SwitchRequested("1.2.0")), (TimeSpan.FromSeconds(5), new AgentReady("1.2.0")),
        ],
        ["a new version that crashes on every try"] =
        [
            (TimeSpan.Zero, new Boot()), (TimeSpan.FromMinutes(1), new SwitchRequested("1.1.0")),
            (TimeSpan.FromSeconds(1), new AgentExited(1)), (TimeSpan.FromSeconds(1), new AgentExited(1)),
            (TimeSpan.FromSeconds(1), new AgentExited(1)), (TimeSpan.FromSeconds(1), new AgentReady("1.0.0")),
            (TimeSpan.FromSeconds(1), new SwitchRequested("1.1.0")), (TimeSpan.FromSeconds(1), new AgentExited(1)),
        ],
        ["a new version that hangs"] =
        [
            (TimeSpan.Zero, new Boot()), (TimeSpan.FromMinutes(1), new SwitchRequested("1.1.0")),
            (Deadline, new Tick()), (Deadline, new Tick()), (Deadline, new Tick()),
            (TimeSpan.FromSeconds(1), new AgentReady("1.1.0")), (TimeSpan.FromSeconds(1), new AgentReady("1.0.0")),
        ],
        ["a version that is ready only on its last try"] =
        [
            (TimeSpan.Zero, new Boot()), (TimeSpan.FromMinutes(1), new SwitchRequested("1.1.0")),
            (TimeSpan.FromSeconds(1), new AgentExited(2)), (Deadline, new Tick()),
            (TimeSpan.FromSeconds(1), new AgentReady("1.1.0")), (TimeSpan.FromSeconds(1), new AgentExited(1)),
            (TimeSpan.FromSeconds(1), new Tick()),
        ],
        ["operator rollbacks"] =
        [
            (TimeSpan.Zero, new Boot()), (TimeSpan.FromMinutes(1), new SwitchRequested("1.1.0")),
            (TimeSpan.FromSeconds(1), new AgentReady("1.1.0")), (TimeSpan.FromHours(1), new RollbackRequested()),
            (TimeSpan.FromSeconds(1), new SwitchRequested("1.2.0")), (TimeSpan.FromSeconds(1), new RollbackRequested()),
            (TimeSpan.FromSeconds(1), new SwitchRequested("1.3.0")), (TimeSpan.FromSeconds(1), new AgentReady("1.3.0")),
            (TimeSpan.FromSeconds(1), new RollbackRequested()), (TimeSpan.FromSeconds(1), new RollbackRequested()),
        ],
        ["restarts, a late ready and a stop"] =
        [
            (TimeSpan.Zero, new Boot()), (TimeSpan.FromSeconds(1), new AgentExited(1)),
            (TimeSpan.FromSeconds(1), new Tick()), (TimeSpan.FromSeconds(1), new SwitchRequested("1.1.0")),
            (Deadline, new AgentReady("1.1.0")), (TimeSpan.FromSeconds(1), new AgentReady("1.1.0")),
            (TimeSpan.FromSeconds(1), new SwitchRequested("1.2.0")), (TimeSpan.FromSeconds(1), new StopRequested()),
            (TimeSpan.FromSeconds(1), new Boot()),
        ],
    };

    public static TheoryData<string> ScriptNames => new(Scripts.Keys);

    [Theory]
    [MemberData(nameof(ScriptNames))]
    public void ACrashBeforeOrAfterEveryWriteLeavesACommittedVersionToRun(string script)
    {
        var events = Scripts[script];
        var writes = new List<int>();
        var dry = NewHost(new FakeClock(), statePath: null);
        foreach (var (advance, e) in events)
        {
            dry.Clock.Advance(advance);
            writes.Add(dry.Send(e).Actions.Count(a => a is PersistState));
        }

        var cases = 0;
        for (var step = 0; step < events.Length; step++)
        {
            for (var write = 0; write < writes[step]; write++)
            {
                foreach (var afterWrite in (bool[])[false, true])
                {
                    using var dir = new TempDir();
                    var host = NewHost(new FakeClock(), dir.Combine("state.json"));
                    for (var i = 0; i < events.Length; i++)
                    {
                        host.Clock.Advance(events[i].Advance);
                        // The host checks the invariant after the crash and the Boot that follows,
                        // and after each of the events the script goes on with.
                        host.Send(events[i].Event, i == step ? new CrashPoint(write, afterWrite) : null);
                    }
                    Assert.Equal(1, host.Crashes);
                    cases++;
                }
            }
        }
        Assert.True(cases >= 2, $"the script {script} has no write to crash at");
    }

    [Fact]
    public void ACrashJustBeforeTheSwitchIsWrittenKeepsTheCurrentVersion()
    {
        var host = NewHost(new FakeClock(), statePath: null);
        host.Boot();
        var boot = host.Send(new SwitchRequested("1.1.0"), new CrashPoint(0, AfterWrite: false));
        Assert.Equal("1.0.0", boot.Actions.OfType<StartAgent>().Single().Version);
        Assert.Null(host.ReadDisk().Trial);
    }

    [Fact]
    public void ACrashJustAfterTheSwitchIsWrittenResumesTheTrialWithASecondTry()
    {
        var host = NewHost(new FakeClock(), statePath: null);
        host.Boot();
        var boot = host.Send(new SwitchRequested("1.1.0"), new CrashPoint(0, AfterWrite: true));
        Assert.Equal("1.1.0", boot.Actions.OfType<StartAgent>().Single().Version);
        Assert.Equal(2, host.ReadDisk().Trial!.Tries);
    }

    [Fact]
    public void ACrashJustBeforeTheCommitIsWrittenCountsAnotherTry()
    {
        var host = NewHost(new FakeClock(), statePath: null);
        host.Boot();
        host.Send(new SwitchRequested("1.1.0"));
        host.Send(new AgentReady("1.1.0"), new CrashPoint(0, AfterWrite: false));
        Assert.Equal("1.0.0", host.ReadDisk().Current);
        Assert.Equal(2, host.ReadDisk().Trial!.Tries);
        Assert.Equal("1.1.0", host.Running);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void RandomEventsAndRandomCrashesNeverBreakTheInvariant(int seed)
    {
        const int Steps = 3000;
        var rng = new Random(seed);
        var host = NewHost(new FakeClock(), statePath: null);
        host.Boot();
        var versions = new List<string> { "1.0.0" };
        var minor = 0;
        var commits = 0;
        var rollbacks = 0;
        for (var step = 0; step < Steps; step++)
        {
            host.Clock.Advance(TimeSpan.FromMilliseconds(rng.Next(1, 3000)));
            if (host.Exited)
            {
                host.Crash(); // the service manager starts the keeper again
                continue;
            }
            var e = NextEvent(rng, host, versions, ref minor);
            var crash = rng.NextDouble() < 0.05 ? new CrashPoint(rng.Next(2), AfterWrite: rng.Next(2) == 0) : null;
            var before = host.ReadDisk();
            host.Send(e, crash);
            var after = host.ReadDisk();
            commits += after.Current != before.Current && after.Previous == before.Current ? 1 : 0;
            rollbacks += after.Bad.Count > before.Bad.Count ? 1 : 0;
        }

        var hangs = host.Actions.Count(a => a is StopAgent { Kill: true });
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{Steps} steps: {commits} commits, {rollbacks} versions marked bad, {hangs} hangs killed, {host.Crashes} crashes, {host.Writes} writes");

        // The run went through every path, not just the easy ones.
        Assert.True(commits >= 10, $"{commits} commits");
        Assert.True(rollbacks >= 10, $"{rollbacks} rollbacks");
        Assert.True(host.Crashes >= 50, $"{host.Crashes} crashes");
        Assert.True(hangs >= 1, $"{hangs} hangs");
    }

    private static KeeperEvent NextEvent(Random rng, KeeperHost host, List<string> versions, ref int minor)
    {
        string Any() => versions[rng.Next(versions.Count)];
        var r = rng.NextDouble();
        if (r < 0.25)
        {
            host.Clock.Advance(TimeSpan.FromSeconds(rng.Next(0, 45)));
            return new Tick();
        }
        if (r < 0.40)
        {
            return new AgentReady(host.Running is { } running && rng.NextDouble() < 0.85 ? running : Any());
        }
        if (r < 0.55)
        {
            return new AgentExited(rng.Next(0, 3));
        }
        if (r < 0.75)
        {
            string v;
            if (rng.NextDouble() < 0.6)
            {
                v = $"1.{++minor}.0";
                versions.Add(v);
            }
            else
            {
                v = Any();
            }
            return new SwitchRequested(v, AllowOlder: rng.NextDouble() < 0.1);
        }
        if (r < 0.80)
        {
            return new RollbackRequested();
        }
        if (r < 0.82)
        {
            return new StopRequested();
        }
        if (r < 0.84)
        {
            return new Boot(); // a duplicate: ignored
        }
        host.Clock.Advance(TimeSpan.FromSeconds(rng.Next(0, 5)));
        return new Tick();
    }

    private static KeeperHost NewHost(FakeClock clock, string? statePath) =>
        new(new KeeperMachine(), InstallState.ForInstall("1.0.0", clock.Now), clock, statePath);
}
