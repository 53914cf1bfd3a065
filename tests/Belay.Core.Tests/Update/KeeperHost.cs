using Belay.Core.Update;
using Belay.TestSupport;

namespace Belay.Core.Tests.Update;

/// <summary>Where a decision's actions stop: at its <paramref name="PersistIndex"/>th
/// PersistState, before the write or just after it. A decision with fewer writes runs all
/// of its actions, then crashes.</summary>
internal sealed record CrashPoint(int PersistIndex, bool AfterWrite);

/// <summary>
/// A runner for <see cref="KeeperMachine"/> in tests: carries out the actions against a
/// "disk" (bytes in memory, or a real state.json through <see cref="InstallStateStore"/>)
/// and an imaginary agent process, can crash at any PersistState, and checks the machine's
/// invariants after every decision and every restart.
/// </summary>
internal sealed class KeeperHost
{
    private readonly KeeperMachine _machine;
    private readonly string? _statePath;
    private byte[] _disk = [];
    private List<string> _badOnDisk = [];
    private readonly Dictionary<string, int> _trialStarts = new(StringComparer.Ordinal);

    public KeeperHost(KeeperMachine machine, InstallState initial, FakeClock clock, string? statePath = null)
    {
        _machine = machine;
        _statePath = statePath;
        Clock = clock;
        Initial = initial.Current;
        Write(initial);
        Snapshot = KeeperSnapshot.Starting(ReadDisk());
    }

    public FakeClock Clock { get; }
    public string Initial { get; }
    public KeeperSnapshot Snapshot { get; private set; }

    /// <summary>The version of the agent process the runner has running, if any.</summary>
    public string? Running { get; private set; }

    /// <summary>Every version the runner ever delivered an AgentReady for.</summary>
    public HashSet<string> EverReported { get; } = new(StringComparer.Ordinal);

    public List<string> Starts { get; } = [];
    public List<KeeperAction> Actions { get; } = [];
    public bool Exited { get; private set; }
    public int Crashes { get; private set; }
    public int Writes { get; private set; }

    public InstallState ReadDisk() => _statePath is null
        ? InstallStateStore.Parse(_disk, "memory")
        : InstallStateStore.Load(_statePath);

    public KeeperDecision Boot() => Send(new Boot());

    /// <summary>Decides <paramref name="e"/> and carries out the actions; with a crash point,
    /// stops there, restarts the keeper from disk and boots it (the Boot's decision is returned).</summary>
    public KeeperDecision Send(KeeperEvent e, CrashPoint? crash = null)
    {
        if (e is AgentReady ready)
        {
            EverReported.Add(ready.Version);
        }
        if (e is AgentExited)
        {
            Running = null; // the process is gone, whatever the keeper makes of it
        }
        var before = Snapshot;
        var d = _machine.Decide(before, e, Clock.Now);
        CheckDecision(before, d);
        var persisted = 0;
        foreach (var action in d.Actions)
        {
            if (action is PersistState p)
            {
                if (crash is not null && crash.PersistIndex == persisted)
                {
                    if (crash.AfterWrite)
                    {
                        Write(p.State);
                    }
                    return Crash();
                }
                Write(p.State);
                persisted++;
            }
            if (action is StartAgent start && d.State.Trial is { } trial && start.Version == trial.Version)
            {
                // However the tries are spread over crashes, a trial gets at most MaxTries starts.
                var key = $"{trial.Version}@{trial.StartedAt:O}";
                _trialStarts[key] = _trialStarts.GetValueOrDefault(key) + 1;
                Assert.True(_trialStarts[key] <= trial.MaxTries, $"{trial.Version} started more than {trial.MaxTries} times in one trial");
            }
            Carry(action);
        }
        Snapshot = d.Snapshot;
        if (crash is not null)
        {
            return Crash();
        }
        CheckSteadyState();
        return d;
    }

    /// <summary>The keeper dies (its agent with it, as the service manager kills the whole
    /// group), is restarted with the state on disk and a fresh runtime, and boots.</summary>
    public KeeperDecision Crash()
    {
        Crashes++;
        Running = null;
        Exited = false;
        Snapshot = KeeperSnapshot.Starting(ReadDisk());
        return Send(new Boot());
    }

    private void Carry(KeeperAction action)
    {
        Actions.Add(action);
        switch (action)
        {
            case StartAgent s:
                Assert.Null(Running); // the machine stops an agent before starting another
                Running = s.Version;
                Starts.Add(s.Version);
                break;
            case StopAgent:
                Running = null;
                break;
            case ExitKeeper:
                Exited = true;
                break;
        }
    }

    private void Write(InstallState state)
    {
        CheckStateInvariant(state);
        foreach (var bad in _badOnDisk)
        {
            Assert.Contains(bad, state.Bad); // the bad list only grows
        }
        _badOnDisk = [.. state.Bad];
        if (_statePath is null)
        {
            _disk = InstallStateStore.Serialize(state);
        }
        else
        {
            InstallStateStore.Save(_statePath, state);
        }
        Writes++;
    }

    /// <summary>What must hold of any state the keeper writes, and so of any state it restarts from.</summary>
    private void CheckStateInvariant(InstallState s)
    {
        Assert.Null(InstallStateStore.Validate(s));
        Assert.True(s.Current == Initial || EverReported.Contains(s.Current),
            $"current {s.Current} is neither the initial version nor one that ever reported ready");
        Assert.False(s.IsBad(s.Current), $"current {s.Current} is marked bad");
        if (s.Trial is { } t)
        {
            Assert.False(s.IsBad(t.Version), $"the trial version {t.Version} is marked bad");
            Assert.InRange(t.Tries, 1, t.MaxTries);
            Assert.Equal(s.Current, t.From);
        }
    }

    private static void CheckDecision(KeeperSnapshot before, KeeperDecision d)
    {
        var firstEffect = IndexOf(d.Actions, a => a is StartAgent or StopAgent or ScheduleTick);
        var lastPersist = LastIndexOf(d.Actions, a => a is PersistState);
        Assert.True(lastPersist < 0 || firstEffect < 0 || lastPersist < firstEffect,
            "a PersistState came after a start, stop or tick: " + string.Join(", ", d.Actions));
        if (lastPersist < 0)
        {
            Assert.Equal(Json(before.State), Json(d.State)); // no write, no change
        }
        else
        {
            Assert.Equal(Json(((PersistState)d.Actions[lastPersist]).State), Json(d.State));
        }
        foreach (var start in d.Actions.OfType<StartAgent>())
        {
            Assert.False(d.State.IsBad(start.Version), $"started {start.Version}, which is marked bad");
            Assert.True(start.Version == d.State.Current || start.Version == d.State.Trial?.Version,
                $"started {start.Version}, which is neither current ({d.State.Current}) nor on trial");
            if (start.Version == d.State.Trial?.Version)
            {
                // A try is counted, and written, before its start.
                var write = d.Actions.OfType<PersistState>().LastOrDefault();
                Assert.NotNull(write);
                Assert.Equal(d.State.Trial.Tries, write.State.Trial?.Tries);
            }
        }
    }

    private void CheckSteadyState()
    {
        var disk = ReadDisk();
        CheckStateInvariant(disk);
        Assert.Equal(Json(disk), Json(Snapshot.State)); // memory never runs ahead of the disk
        Assert.Equal(Running, Snapshot.Runtime.AgentVersion);
        if (Running is not null)
        {
            Assert.True(Running == disk.Current || Running == disk.Trial?.Version,
                $"{Running} runs, which is neither current ({disk.Current}) nor on trial");
        }
    }

    internal static string Json(InstallState s) => System.Text.Encoding.UTF8.GetString(InstallStateStore.Serialize(s));

    private static int IndexOf(IReadOnlyList<KeeperAction> actions, Func<KeeperAction, bool> match)
    {
        for (var i = 0; i < actions.Count; i++)
        {
            if (match(actions[i]))
            {
                return i;
            }
        }
        return -1;
    }

    private static int LastIndexOf(IReadOnlyList<KeeperAction> actions, Func<KeeperAction, bool> match)
    {
        for (var i = actions.Count - 1; i >= 0; i--)
        {
            if (match(actions[i]))
            {
                return i;
            }
        }
        return -1;
    }
}
