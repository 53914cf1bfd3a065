using Belay.Core.IO;

namespace Belay.Core.Update;

// The values KeeperMachine.Decide works on: what the keeper knows, what happened, what to do.

/// <summary>What the keeper knows: the persisted state and what it holds in memory only.</summary>
public sealed record KeeperSnapshot(InstallState State, KeeperRuntime Runtime)
{
    /// <summary>A keeper that just started: the state read from disk and nothing in memory.</summary>
    public static KeeperSnapshot Starting(InstallState state) => new(state, KeeperRuntime.Fresh);
}

/// <summary>
/// The keeper's memory, lost in a crash (a restart begins from <see cref="Fresh"/> and a
/// <see cref="Boot"/>): the agent it started, whether that agent reported ready, and the
/// restart backoff. No pid: the runner owns the process.
/// </summary>
public sealed record KeeperRuntime
{
    public static KeeperRuntime Fresh { get; } = new();

    /// <summary>True once <see cref="Boot"/> was handled.</summary>
    public bool Booted { get; init; }

    /// <summary>True once <see cref="StopRequested"/> was handled: every later event is ignored.</summary>
    public bool Stopping { get; init; }

    /// <summary>The version of the agent the keeper started and that has not exited; null when none runs.</summary>
    public string? AgentVersion { get; init; }

    /// <summary>When that agent was started: its uptime, and its trial deadline.</summary>
    public DateTimeOffset? AgentStartedAt { get; init; }

    /// <summary>The running agent reported ready.</summary>
    public bool AgentReady { get; init; }

    /// <summary>Exits in a row of the committed version, each after less than
    /// <see cref="KeeperPolicy.StableAfter"/> of uptime; sets the restart backoff.</summary>
    public int ConsecutiveFailures { get; init; }

    /// <summary>When the next start of the agent is due; null when no restart waits.</summary>
    public DateTimeOffset? RestartAt { get; init; }

    /// <summary>The exit code of the last agent that exited on its own (not stopped by the keeper); null before one did.</summary>
    public int? LastExitCode { get; init; }
}

/// <summary>The next state and runtime, and the actions to carry out in order.</summary>
public sealed record KeeperDecision(InstallState State, KeeperRuntime Runtime, IReadOnlyList<KeeperAction> Actions)
{
    public KeeperSnapshot Snapshot => new(State, Runtime);
}

/// <summary>
/// The keeper's timing and patience. A trial in progress keeps the MaxTries recorded when it
/// began (<see cref="TrialState.MaxTries"/>): the persisted value wins over this one.
/// </summary>
public sealed record KeeperPolicy
{
    public static KeeperPolicy Default { get; } = new();

    /// <summary>How long a started trial version has to report ready; each try gets the full deadline.</summary>
    public TimeSpan TrialDeadline { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Tries a new version gets (starts, each ending in ready, exit, hang or keeper crash).</summary>
    public int MaxTries { get; init; } = 3;

    /// <summary>Wait before restarting the committed version after its first exit; doubles with each further exit.</summary>
    public TimeSpan RestartBackoffInitial { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan RestartBackoffCap { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>An agent that ran at least this long before exiting starts the backoff afresh.</summary>
    public TimeSpan StableAfter { get; init; } = TimeSpan.FromSeconds(60);

    internal void Validate()
    {
        if (TrialDeadline <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(TrialDeadline), TrialDeadline, "the trial deadline must be positive");
        }
        if (MaxTries < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxTries), MaxTries, "a trial needs at least one try");
        }
        if (RestartBackoffInitial <= TimeSpan.Zero || RestartBackoffCap < RestartBackoffInitial)
        {
            throw new ArgumentOutOfRangeException(nameof(RestartBackoffCap), RestartBackoffCap, "the restart backoff must be positive and its cap at least its initial value");
        }
        if (StableAfter < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(StableAfter), StableAfter, "StableAfter cannot be negative");
        }
    }
}

/// <summary>Something the runner observed or was asked; fed to <see cref="KeeperMachine.Decide"/>.</summary>
public abstract record KeeperEvent;

/// <summary>The keeper process started (first event of every keeper, after a crash too).</summary>
public sealed record Boot : KeeperEvent;

/// <summary>The running agent reported ready on the readiness channel, naming its version.</summary>
public sealed record AgentReady(string Version) : KeeperEvent;

/// <summary>The running agent exited without being asked (the runner never reports an exit
/// that a <see cref="StopAgent"/> caused).</summary>
public sealed record AgentExited(int ExitCode) : KeeperEvent;

/// <summary>A time the keeper asked for with <see cref="ScheduleTick"/> (or any later time) came.</summary>
public sealed record Tick : KeeperEvent;

/// <summary>The agent staged <paramref name="Version"/> and asks to run it. Only a newer
/// version is taken unless <paramref name="AllowOlder"/> (an operator's pin to an older one).</summary>
public sealed record SwitchRequested(string Version, bool AllowOlder = false) : KeeperEvent;

/// <summary>An operator asked to roll back (belay rollback).</summary>
public sealed record RollbackRequested : KeeperEvent;

/// <summary>The service manager asked the keeper to stop.</summary>
public sealed record StopRequested : KeeperEvent;

/// <summary>
/// What the runner does, in the order given. It carries out a <see cref="PersistState"/>
/// before any action after it; if the write fails it stops there (the keeper exits and the
/// service manager restarts it from the last state on disk).
/// </summary>
public abstract record KeeperAction;

/// <summary>Write <paramref name="State"/> to state.json (atomically) before going on;
/// <paramref name="Change"/> says which step of an update it is.</summary>
public sealed record PersistState(InstallState State, StateChange Change) : KeeperAction
{
    /// <summary>The numbered crash point reached once this write is on disk.</summary>
    public CrashPoint CrashPoint => Change switch
    {
        StateChange.Switch => CrashPoint.SwitchPersisted,
        StateChange.TryCounted => CrashPoint.TrialTryCounted,
        StateChange.Commit => CrashPoint.CommitPersisted,
        StateChange.TrialRolledBack => CrashPoint.TrialRolledBack,
        StateChange.OperatorRollback => CrashPoint.OperatorRollbackPersisted,
        _ => throw new InvalidOperationException($"no crash point for {Change}"),
    };
}

/// <summary>The steps of an update that change state.json.</summary>
public enum StateChange
{
    /// <summary>A trial of a staged version begins, its first try counted.</summary>
    Switch,

    /// <summary>The next try of a trial is counted before it starts.</summary>
    TryCounted,

    /// <summary>The trial version is committed as current.</summary>
    Commit,

    /// <summary>A trial is over without a commit: its version is marked bad.</summary>
    TrialRolledBack,

    /// <summary>An operator's rollback: back to the previous version, or a trial aborted.</summary>
    OperatorRollback,
}

/// <summary>Start versions/&lt;Version&gt;/belay-agent run. Only issued when no agent runs.</summary>
public sealed record StartAgent(string Version) : KeeperAction;

/// <summary>Stop the running agent and wait until it is gone: ask it to stop (and kill it
/// after a grace period), or kill it at once when <paramref name="Kill"/>. A no-op when no
/// agent runs. The exit it causes is not reported as <see cref="AgentExited"/>.</summary>
public sealed record StopAgent(bool Kill) : KeeperAction;

/// <summary>Deliver a <see cref="Tick"/> at or after <paramref name="At"/>. Ticks may be
/// early, late, duplicated or stale: the machine checks what is due itself.</summary>
public sealed record ScheduleTick(DateTimeOffset At) : KeeperAction;

/// <summary>Write a line to the keeper's log.</summary>
public sealed record Log(string Message) : KeeperAction;

/// <summary>The keeper is done: exit 0 once the actions before it are carried out.</summary>
public sealed record ExitKeeper : KeeperAction;
