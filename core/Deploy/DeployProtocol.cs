using Belay.Core.IO;

namespace Belay.Core.Deploy;

// What DeployMachine.Decide is told (events) and what it asks the runner to do (actions).

/// <summary>Something the runner observed; fed to <see cref="DeployMachine.Decide"/>.</summary>
public abstract record DeployEvent;

/// <summary>The agent started with this journal on disk (the first event for every app, after a crash too).</summary>
public sealed record AgentStarted : DeployEvent;

/// <summary>A verified group document says this about the app (an app it no longer names comes as <see cref="AppTarget.Absent"/>).</summary>
public sealed record DesiredChanged(AppTarget Desired) : DeployEvent;

/// <summary>The effect of <paramref name="Step"/> (asked for with <see cref="RunStep"/>) is done.</summary>
public sealed record StepSucceeded(DeployStep Step, StepOutcome Outcome) : DeployEvent;

/// <summary>The effect of <paramref name="Step"/> failed; <see cref="StepOutcome.Reason"/> says why.</summary>
public sealed record StepFailed(DeployStep Step, StepOutcome Outcome) : DeployEvent;

/// <summary>A time asked for with <see cref="ScheduleRetry"/> (or later) came.</summary>
public sealed record RetryDue : DeployEvent;

/// <summary>The next journal and the actions to carry out, in order.</summary>
public sealed record DeployDecision(AppJournal Journal, IReadOnlyList<DeployAction> Actions);

/// <summary>
/// What the runner does, in the order given. A <see cref="PersistJournal"/> comes before the
/// effect that depends on it; if the write fails the runner stops there for this app.
/// </summary>
public abstract record DeployAction;

/// <summary>Write <paramref name="Journal"/> (atomically, flushed), then reach <paramref name="Point"/>.</summary>
public sealed record PersistJournal(AppJournal Journal, CrashPoint Point) : DeployAction;

/// <summary>
/// Carry out <paramref name="Step"/> of <paramref name="Deploy"/> and report
/// <see cref="StepSucceeded"/> or <see cref="StepFailed"/> for it. Every step's effect is
/// safe to start again from its beginning, because an agent that restarts may do so.
/// </summary>
public sealed record RunStep(DeployStep Step, DeployRecord Deploy) : DeployAction;

/// <summary>Make the app's supervised process match the journal after a start: run <paramref name="Version"/> with <paramref name="Settings"/>, or keep it stopped (adopting a process that already runs it).</summary>
public sealed record ApplyRelease(string Version, AppSettings Settings, bool Run) : DeployAction;

/// <summary>Delete a release that did not become current (its folder and any private folder of its fetch).</summary>
public sealed record DiscardRelease(string Version) : DeployAction;

/// <summary>Remove the oldest release folders beyond the release's keep_releases, never one of <paramref name="Keep"/>.</summary>
public sealed record PruneReleases(IReadOnlyList<string> Keep) : DeployAction;

/// <summary>Deliver <see cref="RetryDue"/> at or after <paramref name="At"/>.</summary>
public sealed record ScheduleRetry(DateTimeOffset At) : DeployAction;

/// <summary>A line for the agent's log and the app's deploy log.</summary>
public sealed record DeployLog(string Message, bool Warning = false) : DeployAction;
