using System.Globalization;
using System.Text;
using Belay.Core.IO;

namespace Belay.Core.Deploy;

/// <summary>
/// The decisions of one app's lifecycle on one host (DESIGN.md, "Deployments"): which deploy
/// the group document calls for, which step comes next, what a failure leads to, and what an
/// agent that restarted mid-deploy does. Pure: it reads the journal, the event and the time
/// and returns the next journal and the actions; <see cref="DeployRunner"/> does the I/O
/// (hooks, disk, the supervisor) and feeds back events.
///
/// <para>The life of a deploy of version V over installed release C:
/// precheck → fetch → pre_install → unpack → post_install → stop C → pre_start → exec →
/// post_start → health → commit (current = V, previous = C). A desired state <c>stopped</c>
/// ends after the stop; one without a running C skips it. Stop, start, remove and a change
/// of environment or user on the same version are shorter plans of the same steps
/// (<see cref="Plan"/>). Each step is journaled before its effect.</para>
///
/// <para>Failures. Before the stop, nothing of C was touched: a failing pre_install or
/// post_install (or a permanent precheck or fetch failure) marks V's revision bad and C keeps
/// running. From the stop on, a failure marks the revision bad, journals a <see cref="DeployStep.Restore"/>
/// (stop V, start C as it ran before) and reports <c>rolled-back</c>. A precheck, fetch or
/// unpack failure that may pass by waiting (disk, network, a feed being repaired) is not a
/// verdict on V: it is retried after a backoff. A revision marked bad is not tried again until
/// the group document names another one (a tombstone, so there is no rollback loop); the same
/// version with a fixed environment is another revision.</para>
///
/// <para>Hazards it is built around. The agent can die between any two actions (SIGKILL, its
/// own update, a reboot). Every step's effect is journaled first, and on <see cref="AgentStarted"/>
/// the step in the journal is resumed or failed at once with "agent restarted during STEP":
/// steps whose effect is safe to repeat are resumed (precheck, fetch, unpack, exec, health,
/// restore, remove, and the stop of a deploy that only stops); a hook that was cut off is not
/// run twice behind the app's back, so pre_install, post_install, pre_start, post_start and
/// the stop of an update fail, which restores C from the stop on. Either way the app runs C
/// or V after one restart, never neither, and never a half-unpacked folder: a release folder
/// appears by a rename of a complete, flushed private folder.</para>
///
/// <para>Precedence, highest first:
/// <list type="number">
/// <item>A deploy in progress runs to its end (commit, failure, or restore); a desired state
/// that changes meanwhile is journaled and taken up when it ends.</item>
/// <item>Absent wins over everything: an app the group document no longer names, or names
/// absent, is removed, even if a revision of it is marked bad.</item>
/// <item>A rollout that does not admit this host leaves the app as it is.</item>
/// <item>A bad revision is never deployed; a retry waits for its time.</item>
/// <item>Then, in this order: another version is installed; the same version with other
/// settings is reconfigured; a stopped app is started or a running one stopped.</item>
/// <item>Events for a step other than the journaled one are stale and ignored.</item>
/// </list></para>
/// </summary>
public sealed class DeployMachine
{
    private const string AbsentRetry = "absent";

    private readonly DeployRetryPolicy _policy;

    public DeployMachine()
        : this(DeployRetryPolicy.Default)
    {
    }

    public DeployMachine(DeployRetryPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        _policy = policy;
    }

    /// <summary>Decides what follows <paramref name="e"/>. Never changes its arguments.</summary>
    public DeployDecision Decide(AppJournal journal, DeployEvent e, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(journal);
        ArgumentNullException.ThrowIfNull(e);
        var step = new Step(journal);
        switch (e)
        {
            case AgentStarted:
                OnStarted(step, now);
                break;
            case DesiredChanged d:
                OnDesired(step, d.Desired, now);
                break;
            case StepSucceeded s:
                OnSucceeded(step, s, now);
                break;
            case StepFailed f:
                OnFailed(step, f, now);
                break;
            case RetryDue:
                Evaluate(step, now);
                break;
            default:
                step.Log($"ignoring unknown event {e.GetType().Name}");
                break;
        }
        return step.ToDecision();
    }

    /// <summary>The steps of a deploy, in order (commit is not one: it is the journal write that ends it).</summary>
    public static IReadOnlyList<DeployStep> Plan(DeployKind kind, bool fromRunning, bool run)
    {
        IEnumerable<DeployStep> stop = fromRunning ? [DeployStep.Stop] : [];
        IEnumerable<DeployStep> start = run ? [DeployStep.PreStart, DeployStep.Exec, DeployStep.PostStart, DeployStep.Health] : [];
        return kind switch
        {
            DeployKind.Install => [DeployStep.Precheck, DeployStep.Fetch, DeployStep.PreInstall, DeployStep.Unpack, DeployStep.PostInstall, .. stop, .. start],
            DeployKind.Reconfigure => [.. stop, .. start],
            DeployKind.Start => [.. start],
            DeployKind.Stop => [.. stop],
            DeployKind.Remove => [.. stop, DeployStep.Uninstall, DeployStep.Remove],
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
        };
    }

    private void OnStarted(Step step, DateTimeOffset now)
    {
        var j = step.Journal;
        if (j.Deploy is not { } d)
        {
            if (j.Current is { } current)
            {
                step.Add(new ApplyRelease(current, j.CurrentSettings ?? AppSettings.Empty, j.Running));
            }
            Evaluate(step, now);
            return;
        }
        var why = $"agent restarted during {LifecycleNames.Of(d.Step)}";
        if (d.Step is DeployStep.Precheck or DeployStep.Fetch or DeployStep.PreInstall or DeployStep.Unpack or DeployStep.PostInstall
            && j.Current is { } installed)
        {
            // Until the stop, the installed release runs as it did: adopt it (or start it) first.
            step.Add(new ApplyRelease(installed, j.CurrentSettings ?? AppSettings.Empty, j.Running));
        }
        switch (d.Step)
        {
            case DeployStep.Precheck or DeployStep.Fetch or DeployStep.Unpack or DeployStep.Exec or DeployStep.Health
                or DeployStep.Restore or DeployStep.Remove:
            case DeployStep.Stop when d.Kind is DeployKind.Stop or DeployKind.Remove:
                step.Log($"{j.Name} {d.Version}: {why}: resuming it");
                step.Add(new RunStep(d.Step, d));
                break;
            case DeployStep.Uninstall:
                step.Log($"{j.Name} {d.Version}: {why}: the uninstall hook was cut off; removing the release anyway", warning: true);
                Advance(step, d, now);
                break;
            default:
                Fail(step, d, d.Step, StepOutcome.Failed(why), now);
                break;
        }
    }

    private static void OnDesired(Step step, AppTarget desired, DateTimeOffset now)
    {
        var j = step.Journal;
        if (j.Desired == desired)
        {
            return;
        }
        var key = RetryKey(desired);
        var next = j with
        {
            Desired = desired,
            // A tombstone lasts until the group document names another revision.
            Bad = [.. j.Bad.Where(b => b.Revision == desired.Revision && desired.State != AppDesiredState.Absent)],
            Retry = j.Retry is { } r && r.Revision == key ? r : null,
        };
        step.Persist(next, CrashPoint.DeployDesiredRecorded);
        step.Log(desired.State == AppDesiredState.Absent
            ? $"{j.Name}: desired absent (sequence {desired.Sequence})"
            : $"{j.Name}: desired {desired.Version} {LifecycleNames.Of(desired.State)} (sequence {desired.Sequence}, revision {desired.Revision})"
              + (desired.Admitted ? "" : "; the rollout does not admit this host yet"));
        if (j.Deploy is { } d)
        {
            step.Log($"{j.Name}: the deploy of {d.Version} is at {LifecycleNames.Of(d.Step)}; the new desired state is taken up when it ends");
            return;
        }
        Evaluate(step, now);
    }

    private static void OnSucceeded(Step step, StepSucceeded s, DateTimeOffset now)
    {
        if (Current(step, s.Step) is not { } d)
        {
            return;
        }
        d = d with { Output = OutputTail.Append(d.Output, s.Outcome.Output) };
        if (d.Step == DeployStep.Restore)
        {
            FinishRestore(step, d, null, now);
            return;
        }
        Advance(step, d, now);
    }

    private void OnFailed(Step step, StepFailed f, DateTimeOffset now)
    {
        if (Current(step, f.Step) is not { } d)
        {
            return;
        }
        d = d with { Output = OutputTail.Append(d.Output, f.Outcome.Output) };
        Fail(step, d, f.Step, f.Outcome, now);
    }

    /// <summary>The deploy in progress when <paramref name="reported"/> is its step; null (and a log line) for a stale report.</summary>
    private static DeployRecord? Current(Step step, DeployStep reported)
    {
        if (step.Journal.Deploy is { } d && d.Step == reported)
        {
            return d;
        }
        step.Log($"{step.Journal.Name}: ignoring a stale report of {LifecycleNames.Of(reported)}");
        return null;
    }

    /// <summary>With no deploy in progress: start the one the desired state calls for, if any.</summary>
    private static void Evaluate(Step step, DateTimeOffset now)
    {
        var j = step.Journal;
        if (j.Deploy is not null || j.Desired is not { } d)
        {
            return;
        }
        if (j.Retry is { } retry && retry.Revision == RetryKey(d) && now < retry.At)
        {
            step.Add(new ScheduleRetry(retry.At));
            return;
        }
        if (d.State == AppDesiredState.Absent)
        {
            if (j.Current is not null)
            {
                Begin(step, DeployKind.Remove, now);
            }
            return;
        }
        if (!d.Admitted || j.IsBad(d.Revision))
        {
            return;
        }
        if (j.Current != d.Version)
        {
            Begin(step, DeployKind.Install, now);
        }
        else if (j.CurrentRevision != d.Revision)
        {
            Begin(step, DeployKind.Reconfigure, now);
        }
        else if (d.State == AppDesiredState.Running && !j.Running)
        {
            Begin(step, DeployKind.Start, now);
        }
        else if (d.State == AppDesiredState.Stopped && j.Running)
        {
            Begin(step, DeployKind.Stop, now);
        }
    }

    private static void Begin(Step step, DeployKind kind, DateTimeOffset now)
    {
        var j = step.Journal;
        var d = j.Desired!;
        var fromRunning = j.Current is not null && j.Running;
        var run = kind switch
        {
            DeployKind.Start => true,
            DeployKind.Stop or DeployKind.Remove => false,
            _ => d.State == AppDesiredState.Running,
        };
        var steps = Plan(kind, fromRunning, run);
        var remove = kind == DeployKind.Remove;
        var deploy = new DeployRecord
        {
            Kind = kind,
            Version = remove ? j.Current! : d.Version,
            Revision = remove ? j.CurrentRevision ?? "" : d.Revision,
            Settings = remove ? j.CurrentSettings ?? AppSettings.Empty : d.Settings,
            Artifact = remove ? null : d.Artifact,
            Run = run,
            From = j.Current,
            FromRevision = j.CurrentRevision,
            FromSettings = j.CurrentSettings,
            FromRunning = fromRunning,
            Steps = steps,
            Step = steps.Count > 0 ? steps[0] : DeployStep.Commit,
            StartedAt = now,
            StepStartedAt = now,
            Sequence = d.Sequence,
        };
        step.Log($"{j.Name}: {LifecycleNames.Of(kind)} {deploy.Version}{(j.Current is { } c && c != deploy.Version ? $" over {c}" : "")}: "
            + (steps.Count == 0 ? "nothing to run" : string.Join(" → ", steps.Select(LifecycleNames.Of))));
        if (steps.Count == 0)
        {
            Commit(step, deploy, now);
            return;
        }
        step.Persist(j with { Deploy = deploy }, CrashPoint.DeployStepJournaled);
        step.Add(new RunStep(deploy.Step, deploy));
    }

    private static void Advance(Step step, DeployRecord d, DateTimeOffset now)
    {
        var index = IndexOf(d.Steps, d.Step);
        if (index + 1 >= d.Steps.Count)
        {
            Commit(step, d, now);
            return;
        }
        var next = d with { Step = d.Steps[index + 1], StepStartedAt = now };
        step.Persist(step.Journal with { Deploy = next }, CrashPoint.DeployStepJournaled);
        step.Add(new RunStep(next.Step, next));
    }

    private static int IndexOf(IReadOnlyList<DeployStep> steps, DeployStep s)
    {
        for (var i = 0; i < steps.Count; i++)
        {
            if (steps[i] == s)
            {
                return i;
            }
        }
        return -1;
    }

    private static void Commit(Step step, DeployRecord d, DateTimeOffset now)
    {
        var j = step.Journal;
        var report = Report(d, now, "ok", DeployStep.Commit, 0, null);
        var next = d.Kind switch
        {
            DeployKind.Install => j with
            {
                Current = d.Version,
                CurrentRevision = d.Revision,
                CurrentSettings = d.Settings,
                Previous = d.From,
                Running = d.Run,
            },
            DeployKind.Reconfigure => j with { CurrentRevision = d.Revision, CurrentSettings = d.Settings, Running = d.Run },
            DeployKind.Start => j with { Running = true },
            DeployKind.Stop => j with { Running = false },
            _ => j with { Current = null, CurrentRevision = null, CurrentSettings = null, Previous = null, Running = false },
        };
        next = next with { Deploy = null, Retry = null, History = Append(j.History, report) };
        step.Persist(next, CrashPoint.DeployCommitted);
        step.Log(d.Kind switch
        {
            DeployKind.Install => $"{j.Name}: {d.Version} committed{(d.From is { } f ? $" (previous {f})" : "")}, {(d.Run ? "running" : "stopped")}, in {Seconds(now - d.StartedAt)}",
            DeployKind.Reconfigure => $"{j.Name}: {d.Version} reconfigured (revision {d.Revision}), {(d.Run ? "running" : "stopped")}",
            DeployKind.Start => $"{j.Name}: {d.Version} started",
            DeployKind.Stop => $"{j.Name}: {d.Version} stopped",
            _ => $"{j.Name}: removed ({d.Version} uninstalled, its releases deleted)",
        });
        if (d.Kind == DeployKind.Install)
        {
            step.Add(new PruneReleases([.. new[] { next.Current, next.Previous }.OfType<string>()]));
        }
        Evaluate(step, now);
    }

    private void Fail(Step step, DeployRecord d, DeployStep failed, StepOutcome outcome, DateTimeOffset now)
    {
        var j = step.Journal;
        var reason = outcome.Reason ?? $"{LifecycleNames.Of(failed)} failed";
        switch (failed)
        {
            case DeployStep.Restore:
                FinishRestore(step, d, reason, now);
                return;
            case DeployStep.Uninstall:
                step.Log($"{j.Name} {d.Version}: uninstall failed: {reason}; removing the release anyway", warning: true);
                Advance(step, d, now);
                return;
            case DeployStep.Precheck or DeployStep.Fetch or DeployStep.Unpack when !outcome.Permanent:
            case DeployStep.Remove:
            case DeployStep.Stop when d.Kind is DeployKind.Stop or DeployKind.Remove:
                Retry(step, d, failed, outcome, reason, now);
                return;
            case DeployStep.Precheck or DeployStep.Fetch or DeployStep.Unpack or DeployStep.PreInstall or DeployStep.PostInstall:
                {
                    // Nothing of the installed release was touched: it keeps running.
                    var next = j with
                    {
                        Deploy = null,
                        Bad = [.. j.Bad, new BadRevision(d.Version, d.Revision, $"{LifecycleNames.Of(failed)}: {reason}", now)],
                        Retry = null,
                        History = Append(j.History, Report(d, now, "failed", failed, outcome.ExitCode, reason)),
                    };
                    step.Persist(next, CrashPoint.DeployFailed);
                    step.Log($"{j.Name} {d.Version}: {LifecycleNames.Of(failed)} failed: {reason}; {d.Version} is marked bad until the group document names another version"
                        + (j.Current is { } c ? $"; {c} stays" : ""), warning: true);
                    Discard(step, d);
                    Evaluate(step, now);
                    return;
                }
            default:
                {
                    var restoring = d with
                    {
                        Step = DeployStep.Restore,
                        StepStartedAt = now,
                        Failure = new StepFailure(failed, outcome.ExitCode, outcome.Output, reason),
                    };
                    var next = j with
                    {
                        Deploy = restoring,
                        Bad = [.. j.Bad, new BadRevision(d.Version, d.Revision, $"{LifecycleNames.Of(failed)}: {reason}", now)],
                    };
                    step.Persist(next, CrashPoint.DeployStepJournaled);
                    step.Log($"{j.Name} {d.Version}: {LifecycleNames.Of(failed)} failed: {reason}; {d.Version} is marked bad until the group document names another version; "
                        + (d.From is { } from && d.FromRunning ? $"restoring {from}" : $"stopping {d.Version}"), warning: true);
                    step.Add(new RunStep(DeployStep.Restore, restoring));
                    return;
                }
        }
    }

    private void Retry(Step step, DeployRecord d, DeployStep failed, StepOutcome outcome, string reason, DateTimeOffset now)
    {
        var j = step.Journal;
        var key = d.Kind == DeployKind.Remove ? AbsentRetry : d.Revision;
        var count = (j.Retry is { } r && r.Revision == key ? r.Count : 0) + 1;
        var at = now + _policy.RetryDelay(count);
        var next = j with
        {
            Deploy = null,
            Retry = new RetryRecord(key, count, at),
            History = Append(j.History, Report(d, now, "failed", failed, outcome.ExitCode, reason)),
        };
        step.Persist(next, CrashPoint.DeployFailed);
        step.Log($"{j.Name} {d.Version}: {LifecycleNames.Of(failed)} failed: {reason}; trying again at {Stamp(at)} (failure {count} in a row)", warning: true);
        Discard(step, d);
        step.Add(new ScheduleRetry(at));
    }

    private static void FinishRestore(Step step, DeployRecord d, string? restoreError, DateTimeOffset now)
    {
        var j = step.Journal;
        var failure = d.Failure ?? new StepFailure(DeployStep.Restore, null, "", restoreError ?? "restored");
        var back = d.Kind is DeployKind.Install or DeployKind.Reconfigure && d.From is not null;
        var reason = failure.Reason + (restoreError is null ? "" : $"; restoring {d.From} failed too: {restoreError}");
        var next = j with
        {
            Deploy = null,
            Running = d.Kind != DeployKind.Start && d.From is not null && d.FromRunning,
            History = Append(j.History, Report(d, now, back ? "rolled-back" : "failed", failure.Step, failure.ExitCode, reason)),
        };
        step.Persist(next, CrashPoint.DeployFailed);
        step.Log(back
            ? $"{j.Name}: back on {d.From}{(d.FromRunning ? "" : " (stopped)")} after {d.Version} failed at {LifecycleNames.Of(failure.Step)}: {reason}"
            : $"{j.Name}: {d.Version} failed at {LifecycleNames.Of(failure.Step)} and is stopped: {reason}", warning: true);
        Discard(step, d);
        Evaluate(step, now);
    }

    /// <summary>A release that did not become current goes, unless it is the current or previous one.</summary>
    private static void Discard(Step step, DeployRecord d)
    {
        var j = step.Journal;
        if (d.Kind == DeployKind.Install && d.Version != j.Current && d.Version != j.Previous)
        {
            step.Add(new DiscardRelease(d.Version));
        }
    }

    private static string RetryKey(AppTarget d) => d.State == AppDesiredState.Absent ? AbsentRetry : d.Revision;

    private static DeployReport Report(DeployRecord d, DateTimeOffset now, string result, DeployStep at, int? exitCode, string? reason) => new()
    {
        At = d.StartedAt,
        FinishedAt = now,
        Kind = LifecycleNames.Of(d.Kind),
        Version = d.Version,
        From = d.From,
        Result = result,
        Step = LifecycleNames.Of(at),
        ExitCode = exitCode,
        DurationSeconds = Math.Round((now - d.StartedAt).TotalSeconds, 3),
        Output = d.Output,
        Reason = reason,
        Sequence = d.Sequence,
    };

    private static IReadOnlyList<DeployReport> Append(IReadOnlyList<DeployReport> history, DeployReport report) =>
        [.. history.Skip(Math.Max(0, history.Count + 1 - AppJournal.HistoryLength)), report];

    private static string Stamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) + " s";

    /// <summary>One decision being built: the journal so far, and the actions.</summary>
    private sealed class Step(AppJournal journal)
    {
        private readonly List<DeployAction> _actions = [];

        public AppJournal Journal { get; private set; } = journal;

        public void Add(DeployAction action) => _actions.Add(action);

        public void Log(string message, bool warning = false) => Add(new DeployLog(message, warning));

        public void Persist(AppJournal next, CrashPoint point)
        {
            Journal = next;
            Add(new PersistJournal(next, point));
        }

        public DeployDecision ToDecision() => new(Journal, _actions.ToArray());
    }
}

/// <summary>The deploy machine's patience with failures that may pass by waiting.</summary>
public sealed record DeployRetryPolicy
{
    public static DeployRetryPolicy Default { get; } = new();

    /// <summary>The wait after the first precheck, fetch or unpack failure of a revision; doubles with each further one.</summary>
    public TimeSpan RetryInitial { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan RetryCap { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Initial × 2^(count − 1), capped.</summary>
    public TimeSpan RetryDelay(int count)
    {
        var ticks = RetryInitial.Ticks * Math.Pow(2, Math.Clamp(count - 1, 0, 40));
        return TimeSpan.FromTicks((long)Math.Min(ticks, RetryCap.Ticks));
    }
}

/// <summary>The last 4 KiB of a deploy's output, as reports keep it.</summary>
public static class OutputTail
{
    public const int MaxBytes = 4096;

    /// <summary><paramref name="text"/> + <paramref name="more"/>, cut at the front to at most <see cref="MaxBytes"/> bytes of UTF-8 (on a character boundary).</summary>
    public static string Append(string text, string more)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(more);
        return Keep(text + more);
    }

    public static string Keep(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Encoding.UTF8.GetByteCount(text) <= MaxBytes)
        {
            return text;
        }
        var start = Math.Max(0, text.Length - MaxBytes);
        while (Encoding.UTF8.GetByteCount(text.AsSpan(start)) > MaxBytes || (start < text.Length && char.IsLowSurrogate(text[start])))
        {
            start++;
        }
        return text[start..];
    }
}
