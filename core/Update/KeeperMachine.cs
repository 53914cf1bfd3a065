using System.Globalization;
using Belay.Core.Versioning;

namespace Belay.Core.Update;

/// <summary>
/// The keeper's decisions (belay run): which agent version to start, when a new version is
/// on trial, when the trial is committed and when it is rolled back. Pure: it reads the
/// snapshot, the event and the time, and returns the next state and the actions; the runner
/// does the I/O and feeds back events (DESIGN.md, "Process model", "Update state machine").
///
/// <para>The life of an update: the agent stages version V and sends
/// <see cref="SwitchRequested"/>; the keeper persists a trial of V with one try counted,
/// stops the old agent and starts V. V reports ready within <see cref="KeeperPolicy.TrialDeadline"/>
/// → committed (Current = V, Previous = the old one). V exits, hangs past the deadline, or
/// the keeper crashes → the next try is counted and persisted, then V starts again. Tries
/// used up → V goes on the bad list (never tried again; a fix ships as a new version) and
/// the committed version starts.</para>
///
/// <para>Hazards it is built around. A crash can come between any two actions, so a
/// decision that changes the state persists it first (<see cref="PersistState"/> precedes
/// every stop, start and tick in it) and a restart decides from the state on disk alone: a try is
/// counted before its start, so a version that crashes the host, or the keeper, still runs
/// out of tries. Current only ever changes to a version that reported ready, or back to the
/// one it replaced, so after a crash at any point the host has a committed version to run.</para>
///
/// <para>Precedence, highest first:
/// <list type="number">
/// <item><see cref="StopRequested"/> wins over everything: once handled, every later event is ignored.</item>
/// <item>No event but <see cref="Boot"/> is acted on before <see cref="Boot"/>; a second Boot is ignored.</item>
/// <item>A pending trial comes before the committed version: Boot, and a restart coming due,
///   resume the trial (counting a try) or, with no try left, roll it back.</item>
/// <item>A trial's MaxTries is the one persisted when it began, not the current policy's.</item>
/// <item>The trial deadline beats readiness: a ready report at or after the deadline (start
///   of the try + TrialDeadline) counts as a hang, whether or not its Tick came first.</item>
/// <item>A switch is refused, in this order, for a version that does not parse, while a
///   trial runs, for the current version, for a bad version, for a version not newer than
///   Current (unless <see cref="SwitchRequested.AllowOlder"/>).</item>
/// <item>An operator's rollback aborts a running trial (that version goes bad) rather than
///   going back to Previous; with no trial it returns to Previous and marks Current bad.</item>
/// <item>Reports from an agent that is not the running one (a ready of another version, an
///   exit when none runs) are stale and ignored.</item>
/// </list></para>
/// </summary>
public sealed class KeeperMachine
{
    private readonly KeeperPolicy _policy;

    public KeeperMachine()
        : this(KeeperPolicy.Default)
    {
    }

    public KeeperMachine(KeeperPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        policy.Validate();
        _policy = policy;
    }

    public KeeperPolicy Policy => _policy;

    /// <summary>Decides what follows <paramref name="e"/>. Never changes its arguments.</summary>
    public KeeperDecision Decide(KeeperSnapshot snapshot, KeeperEvent e, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(e);
        var step = new Step(snapshot.State, snapshot.Runtime);
        if (step.Runtime.Stopping)
        {
            step.Log($"ignoring {Name(e)}: the keeper is stopping");
        }
        else if (e is StopRequested)
        {
            OnStop(step);
        }
        else if (!step.Runtime.Booted && e is not Boot)
        {
            step.Log($"ignoring {Name(e)}: the keeper has not booted");
        }
        else
        {
            switch (e)
            {
                case Boot:
                    OnBoot(step, now);
                    break;
                case SwitchRequested s:
                    OnSwitch(step, s, now);
                    break;
                case AgentReady r:
                    OnReady(step, r, now);
                    break;
                case AgentExited x:
                    OnExited(step, x, now);
                    break;
                case Tick:
                    OnTick(step, now);
                    break;
                case RollbackRequested:
                    OnRollback(step, now);
                    break;
                default:
                    step.Log($"ignoring unknown event {Name(e)}");
                    break;
            }
        }
        return step.ToDecision();
    }

    private void OnBoot(Step step, DateTimeOffset now)
    {
        if (step.Runtime.Booted)
        {
            step.Log("ignoring a second Boot");
            return;
        }
        step.Runtime = step.Runtime with { Booted = true };
        var state = step.State;
        if (state.Trial is { } trial && state.IsBad(trial.Version))
        {
            // Not written by this machine (it drops a trial as it marks it bad), but cheap to survive.
            var next = state.Clone();
            next.Trial = null;
            step.Persist(next, StateChange.TrialRolledBack);
            step.Log($"dropping the trial of {trial.Version}: it is marked bad");
            step.Start(next.Current, now);
            return;
        }
        if (state.Trial is not null)
        {
            StartTrialTryOrRollBack(step, now, "the keeper restarted during the trial");
            return;
        }
        step.Log($"starting {state.Current}");
        step.Start(state.Current, now);
    }

    private void OnSwitch(Step step, SwitchRequested s, DateTimeOffset now)
    {
        var state = step.State;
        var v = s.Version;
        string? refusal = null;
        if (!SemVersion.TryParse(v, out var wanted, out var error))
        {
            refusal = error;
        }
        else if (state.Trial is { } trial)
        {
            refusal = $"a trial of {trial.Version} is in progress";
        }
        else if (string.Equals(v, state.Current, StringComparison.Ordinal))
        {
            refusal = $"{v} is already the current version";
        }
        else if (state.IsBad(v))
        {
            refusal = $"{v} is marked bad and is never tried again; a fix ships as a new version";
        }
        else if (!s.AllowOlder && wanted <= SemVersion.Parse(state.Current))
        {
            refusal = $"{v} is not newer than the current version {state.Current}";
        }
        if (refusal is not null)
        {
            step.Log($"refusing to switch to {v}: {refusal}");
            return;
        }

        var next = state.Clone();
        next.Trial = new TrialState
        {
            Version = v,
            From = state.Current,
            Tries = 1,
            MaxTries = _policy.MaxTries,
            StartedAt = now,
        };
        step.Persist(next, StateChange.Switch);
        step.Log($"switching from {state.Current} to {v}: trial, try 1 of {_policy.MaxTries}");
        step.StopIfRunning(kill: false);
        StartTrial(step, v, now);
    }

    private void OnReady(Step step, AgentReady r, DateTimeOffset now)
    {
        var runtime = step.Runtime;
        if (!string.Equals(r.Version, runtime.AgentVersion, StringComparison.Ordinal))
        {
            step.Log($"ignoring a ready report from {r.Version}: the running agent is {runtime.AgentVersion ?? "none"}");
            return;
        }
        if (runtime.AgentReady)
        {
            return;
        }
        var state = step.State;
        if (state.Trial is { } trial && string.Equals(trial.Version, r.Version, StringComparison.Ordinal))
        {
            var deadline = TrialDeadline(runtime, now);
            if (now >= deadline)
            {
                step.Log($"{trial.Version} reported ready at {Stamp(now)}, after its deadline {Stamp(deadline)}: counted as a hang");
                FailTrialTry(step, now, kill: true);
                return;
            }
            var next = state.Clone();
            next.Previous = state.Current;
            next.Current = trial.Version;
            next.Trial = null;
            next.CommittedAt = now;
            step.Persist(next, StateChange.Commit);
            step.Log($"committed {trial.Version} (ready on try {trial.Tries} of {trial.MaxTries}); previous is {state.Current}");
        }
        step.Runtime = step.Runtime with { AgentReady = true };
    }

    private void OnExited(Step step, AgentExited x, DateTimeOffset now)
    {
        var runtime = step.Runtime;
        if (runtime.AgentVersion is not { } version)
        {
            step.Log($"ignoring an exit (code {x.ExitCode}): no agent is running");
            return;
        }
        var uptime = now - (runtime.AgentStartedAt ?? now);
        step.Log($"agent {version} exited with code {x.ExitCode} after {Seconds(uptime)}");
        step.Runtime = step.Runtime with { LastExitCode = x.ExitCode };
        runtime = step.Runtime;
        if (step.State.Trial is { } trial && string.Equals(trial.Version, version, StringComparison.Ordinal))
        {
            FailTrialTry(step, now, kill: false);
            return;
        }
        var failures = (uptime >= _policy.StableAfter ? 0 : runtime.ConsecutiveFailures) + 1;
        var at = now + Backoff(failures);
        step.Runtime = runtime with
        {
            AgentVersion = null,
            AgentStartedAt = null,
            AgentReady = false,
            ConsecutiveFailures = failures,
            RestartAt = at,
        };
        step.Log($"restarting at {Stamp(at)} ({failures} exit(s) in a row)");
        step.ScheduleTick(at);
    }

    private void OnTick(Step step, DateTimeOffset now)
    {
        var runtime = step.Runtime;
        if (step.State.Trial is { } trial
            && string.Equals(trial.Version, runtime.AgentVersion, StringComparison.Ordinal)
            && !runtime.AgentReady
            && now >= TrialDeadline(runtime, now))
        {
            step.Log($"{trial.Version} was not ready within {Seconds(_policy.TrialDeadline)}: stopping it, counted as a failed try");
            FailTrialTry(step, now, kill: true);
            return;
        }
        if (runtime.AgentVersion is null && runtime.RestartAt is { } due && now >= due)
        {
            step.Runtime = runtime with { RestartAt = null };
            if (step.State.Trial is not null)
            {
                StartTrialTryOrRollBack(step, now, "restart");
                return;
            }
            step.Log($"restarting {step.State.Current}");
            step.Start(step.State.Current, now, keepFailures: true);
        }
    }

    private static void OnRollback(Step step, DateTimeOffset now)
    {
        var state = step.State;
        if (state.Trial is { } trial)
        {
            var next = state.Clone();
            MarkBad(next, trial.Version);
            next.Trial = null;
            step.Persist(next, StateChange.OperatorRollback);
            step.Log($"operator rollback: aborting the trial of {trial.Version}, marked bad; starting {next.Current}");
            step.StopIfRunning(kill: false);
            step.Start(next.Current, now);
            return;
        }
        if (state.Previous is not { } previous || state.IsBad(previous))
        {
            step.Log($"nothing to roll back to: {state.Current} has no previous version");
            return;
        }
        var back = state.Clone();
        MarkBad(back, state.Current);
        back.Current = previous;
        back.Previous = null;
        back.CommittedAt = now;
        step.Persist(back, StateChange.OperatorRollback);
        step.Log($"operator rollback: {state.Current} marked bad, back to {previous}");
        step.StopIfRunning(kill: false);
        step.Start(previous, now);
    }

    private static void OnStop(Step step)
    {
        step.Log("stopping: the state is left as it is");
        step.StopIfRunning(kill: false);
        step.Runtime = step.Runtime with { Stopping = true, RestartAt = null };
        step.Add(new ExitKeeper());
    }

    /// <summary>The running trial try failed (exit or hang): start the next try or roll back.</summary>
    private void FailTrialTry(Step step, DateTimeOffset now, bool kill)
    {
        if (!kill)
        {
            step.Runtime = step.Runtime with { AgentVersion = null, AgentStartedAt = null, AgentReady = false };
        }
        StartTrialTryOrRollBack(step, now, "failed try", kill);
    }

    /// <summary>A trial is pending and its last try is over: count a try and start it, or,
    /// with no try left, mark the version bad and start the committed one. Persists first
    /// either way, then kills the hung agent if <paramref name="killRunning"/>.</summary>
    private void StartTrialTryOrRollBack(Step step, DateTimeOffset now, string why, bool killRunning = false)
    {
        var state = step.State;
        var trial = state.Trial!;
        var next = state.Clone();
        if (trial.Tries >= trial.MaxTries)
        {
            MarkBad(next, trial.Version);
            next.Trial = null;
            step.Persist(next, StateChange.TrialRolledBack);
            step.Log($"rolling back: {trial.Version} used all {trial.MaxTries} tries ({why}); it is marked bad; starting {next.Current}");
            step.StopIfRunning(killRunning);
            step.Start(next.Current, now);
            return;
        }
        next.Trial!.Tries = trial.Tries + 1;
        step.Persist(next, StateChange.TryCounted);
        step.Log($"{why}: trying {trial.Version} again, try {next.Trial.Tries} of {trial.MaxTries}");
        step.StopIfRunning(killRunning);
        StartTrial(step, trial.Version, now);
    }

    private void StartTrial(Step step, string version, DateTimeOffset now)
    {
        step.Start(version, now);
        step.ScheduleTick(now + _policy.TrialDeadline);
    }

    private DateTimeOffset TrialDeadline(KeeperRuntime runtime, DateTimeOffset now) =>
        (runtime.AgentStartedAt ?? now) + _policy.TrialDeadline;

    /// <summary>Initial × 2^(failures − 1), capped.</summary>
    private TimeSpan Backoff(int failures)
    {
        var ticks = _policy.RestartBackoffInitial.Ticks * Math.Pow(2, Math.Min(failures - 1, 62));
        return TimeSpan.FromTicks((long)Math.Min(ticks, _policy.RestartBackoffCap.Ticks));
    }

    private static void MarkBad(InstallState state, string version)
    {
        if (!state.IsBad(version))
        {
            state.Bad.Add(version);
        }
    }

    private static string Name(KeeperEvent e) => e.GetType().Name;

    private static string Stamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";

    /// <summary>One decision being built: the state and runtime so far, and the actions.</summary>
    private sealed class Step(InstallState state, KeeperRuntime runtime)
    {
        private readonly List<KeeperAction> _actions = [];

        public InstallState State { get; private set; } = state;
        public KeeperRuntime Runtime { get; set; } = runtime;

        public void Add(KeeperAction action) => _actions.Add(action);

        public void Log(string message) => Add(new Log(message));

        /// <summary>Records <paramref name="next"/> as the state, and its write as the next action.</summary>
        public void Persist(InstallState next, StateChange change)
        {
            State = next;
            Add(new PersistState(next.Clone(), change));
        }

        public void StopIfRunning(bool kill)
        {
            if (Runtime.AgentVersion is not null)
            {
                Add(new StopAgent(kill));
                Runtime = Runtime with { AgentVersion = null, AgentStartedAt = null, AgentReady = false };
            }
        }

        public void Start(string version, DateTimeOffset now, bool keepFailures = false)
        {
            Add(new StartAgent(version));
            Runtime = Runtime with
            {
                AgentVersion = version,
                AgentStartedAt = now,
                AgentReady = false,
                RestartAt = null,
                ConsecutiveFailures = keepFailures ? Runtime.ConsecutiveFailures : 0,
            };
        }

        public void ScheduleTick(DateTimeOffset at) => Add(new ScheduleTick(at));

        public KeeperDecision ToDecision() => new(State, Runtime, _actions.ToArray());
    }
}
