using System.Threading.Channels;
using Belay.Core.IO;

namespace Belay.Core.Deploy;

/// <summary>
/// The thin shell around <see cref="DeployMachine"/>: one worker per app, each with its journal
/// and an inbox of events, so that apps deploy side by side and a slow health gate of one never
/// holds up another. A worker feeds each event to the machine and carries out the actions in
/// order: a journal write before the effect that depends on it (a write that fails ends the
/// decision there, and the app tries again a minute later), a step's effect on a task of its own
/// (<see cref="DeployStepRunner"/>) whose outcome comes back as the next event, the rest at once.
/// <see cref="StopAsync"/> (the agent stops or hands over) cancels running steps, which kills a
/// running hook's process group; the journal still names the step, and the next agent resumes
/// or fails it.
/// </summary>
public sealed class DeployRunner : IAsyncDisposable
{
    private static readonly TimeSpan WriteRetry = TimeSpan.FromMinutes(1);

    private readonly AppPaths _paths;
    private readonly string _group;
    private readonly DeployMachine _machine;
    private readonly DeployStepRunner _steps;
    private readonly IAppProcess _process;
    private readonly ISecretResolver _secrets;
    private readonly IDeployLog _log;
    private readonly TimeProvider _clock;
    private readonly Dictionary<string, Worker> _workers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _broken = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource<Exception> _failure = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();

    public DeployRunner(AppPaths paths, string group, DeployMachine machine, DeployStepRunner steps, IAppProcess process, ISecretResolver secrets,
        IDeployLog log, TimeProvider clock)
    {
        _paths = paths;
        _group = group;
        _machine = machine;
        _steps = steps;
        _process = process;
        _secrets = secrets;
        _log = log;
        _clock = clock;
    }

    /// <summary>
    /// Called (on a worker's thread; it must not block) after an app's journal changed: a deploy began, moved to
    /// another step, committed, failed or rolled back, or the desired state changed. The agent sends its hub a
    /// state then, so that a step shorter than the hub client's periodic check is still reported.
    /// </summary>
    public Action? Changed { get; set; }

    /// <summary>How hooks an earlier agent left running are ended (null: this system's way; tests give a fake).</summary>
    public ILeftHooks? LeftHooks { get; init; }

    /// <summary>Whose the deploy state folder is on Windows (its owner-only ACL): the machine's in a system install.</summary>
    public OwnerOnlyScope SecretScope { get; init; } = OwnerOnlyScope.System;

    /// <summary>True while any app has a deploy in progress (the agent waits with its own update).</summary>
    public bool Deploying
    {
        get
        {
            lock (_lock)
            {
                return _workers.Values.Any(w => w.Journal.Deploy is not null);
            }
        }
    }

    /// <summary>Every app's journal as it stands (for belay status and belay apps).</summary>
    public IReadOnlyList<AppJournal> Journals()
    {
        lock (_lock)
        {
            return [.. _workers.Values.Select(w => w.Journal).OrderBy(j => j.Name, StringComparer.Ordinal)];
        }
    }

    /// <summary>Apps whose journal could not be read, with the reason: left alone until it is moved away.</summary>
    public IReadOnlyDictionary<string, string> Broken()
    {
        lock (_lock)
        {
            return new Dictionary<string, string>(_broken, StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// Loads every app's journal, ends the hooks an earlier agent left running (their whole
    /// process group), and tells each app the agent started: each resumes or fails its step.
    /// </summary>
    public void Start()
    {
        AtomicFile.CreateDirectoryDurably(_paths.StateDir, ReleaseFolders.OwnerOnlyDirectory);
        if (OperatingSystem.IsWindows())
        {
            new OwnerOnlyAcl(new IO.Windows.NativeFileSecurity()).ApplyToFolder(_paths.StateDir, SecretScope);
        }
        else
        {
            File.SetUnixFileMode(_paths.StateDir, ReleaseFolders.OwnerOnlyDirectory);
        }
        var leftHooks = LeftHooks ?? (OperatingSystem.IsWindows()
            ? new WindowsLeftHooks(Programs.Windows.NativeWindowsProcessApi.Instance)
            : new PosixLeftHooks());
        foreach (var record in Directory.EnumerateFiles(_paths.StateDir, "*.hook"))
        {
            if (HookRecords.TryLoad(record) is var (pid, start) && leftHooks.End(pid, start) is { } ended)
            {
                _log.Write(Path.GetFileNameWithoutExtension(record), $"killed the hook an earlier agent left running ({ended})", true);
            }
            HookRecords.Delete(record);
        }
        foreach (var file in Directory.EnumerateFiles(_paths.StateDir, "*.json").Order(StringComparer.Ordinal))
        {
            var app = Path.GetFileNameWithoutExtension(file);
            try
            {
                if (AppJournalStore.TryLoad(file) is { } journal)
                {
                    Post(WorkerFor(journal), new AgentStarted());
                }
            }
            catch (BelayException e)
            {
                lock (_lock)
                {
                    _broken[app] = e.Message;
                }
                _log.Write(app, e.Message, true);
            }
        }
    }

    /// <summary>A verified group document asks for these apps (apps it does not name are left as they are).</summary>
    public void Converge(IEnumerable<AppTarget> targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        foreach (var target in targets)
        {
            if (!AppPaths.IsValidAppName(target.Name))
            {
                _log.Write(target.Name, $"'{target.Name}' cannot be deployed: the name is reserved for Belay's own logs", true);
                continue;
            }
            lock (_lock)
            {
                if (_broken.ContainsKey(target.Name))
                {
                    continue;
                }
            }
            Post(WorkerFor(new AppJournal { Name = target.Name }), new DesiredChanged(target));
        }
    }

    /// <summary>Stops taking events, cancels the running steps (their hooks' process groups are killed) and waits for the workers.</summary>
    public async Task StopAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        List<Worker> workers;
        lock (_lock)
        {
            workers = [.. _workers.Values];
        }
        foreach (var w in workers)
        {
            w.Inbox.Writer.TryComplete();
            w.Timer?.Dispose();
        }
        foreach (var w in workers)
        {
            await w.Loop.ConfigureAwait(false);
            await w.Running.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested)
        {
            await StopAsync().ConfigureAwait(false);
        }
        _stopping.Dispose();
    }

    private Worker WorkerFor(AppJournal journal)
    {
        lock (_lock)
        {
            if (_workers.TryGetValue(journal.Name, out var existing))
            {
                return existing;
            }
            var worker = new Worker(journal);
            _workers[journal.Name] = worker;
            worker.Loop = Task.Run(() => LoopAsync(worker));
            return worker;
        }
    }

    private static void Post(Worker worker, DeployEvent e)
    {
        Interlocked.Increment(ref worker.Pending);
        if (!worker.Inbox.Writer.TryWrite(e))
        {
            Interlocked.Decrement(ref worker.Pending);
        }
    }

    /// <summary>Completes with the first exception that escaped a worker or a step (a bug, or a test's crash): that app's worker has stopped.</summary>
    public Task<Exception> Failed => _failure.Task;

    private async Task LoopAsync(Worker worker)
    {
        try
        {
            await foreach (var e in worker.Inbox.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                if (_stopping.IsCancellationRequested)
                {
                    break;
                }
                try
                {
                    await HandleAsync(worker, e).ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Decrement(ref worker.Pending);
                }
            }
        }
        catch (Exception x)
        {
            Fail(worker, x);
        }
    }

    private void Fail(Worker worker, Exception x)
    {
        _log.Write(worker.Journal.Name, $"the deploy of {worker.Journal.Name} stopped on an error: {x.Message}", true);
        _failure.TrySetResult(x);
    }

    private async Task HandleAsync(Worker worker, DeployEvent e)
    {
        var app = worker.Journal.Name;
        var decision = _machine.Decide(worker.Journal, e, _clock.GetUtcNow());
        var persisted = worker.Journal;
        {
            foreach (var action in decision.Actions)
            {
                if (!await CarryOutAsync(worker, app, action).ConfigureAwait(false))
                {
                    // A journal write failed: the journal on disk is the last one written.
                    worker.Journal = persisted;
                    return;
                }
                if (action is PersistJournal p)
                {
                    persisted = p.Journal;
                }
            }
            // Shown (belay apps, Deploying) once the decision's effects are carried out.
            var changed = !ReferenceEquals(worker.Journal, decision.Journal);
            worker.Journal = decision.Journal;
            if (changed)
            {
                Changed?.Invoke();
            }
        }
    }

    /// <summary>True when no app has an event waiting, a decision being carried out, or a step running (for tests).</summary>
    internal bool Idle
    {
        get
        {
            lock (_lock)
            {
                return _workers.Values.All(w => Volatile.Read(ref w.Pending) == 0 && w.Running.IsCompleted);
            }
        }
    }

    private async Task<bool> CarryOutAsync(Worker worker, string app, DeployAction action)
    {
        {
            switch (action)
            {
                case PersistJournal persist:
                    try
                    {
                        AppJournalStore.Persist(_paths.Journal(app), persist);
                    }
                    catch (Exception x) when (x is IOException or UnauthorizedAccessException)
                    {
                        _log.Write(app, $"cannot write {_paths.Journal(app)}: {x.Message}; trying again in {WriteRetry.TotalMinutes:0} minute(s)", true);
                        Schedule(worker, _clock.GetUtcNow() + WriteRetry);
                        return false;
                    }
                    break;
                case RunStep run:
                    StartStep(worker, run);
                    break;
                case ApplyRelease apply:
                    await ApplyAsync(app, apply).ConfigureAwait(false);
                    break;
                case DiscardRelease discard:
                    Try(app, () => ReleaseFolders.Discard(_paths, app, discard.Version), $"cannot delete release {discard.Version}");
                    break;
                case PruneReleases prune:
                    Try(app, () => Prune(app, prune.Keep), "cannot prune old releases");
                    break;
                case ScheduleRetry retry:
                    Schedule(worker, retry.At);
                    break;
                case DeployLog line:
                    _log.Write(app, line.Message, line.Warning);
                    break;
            }
        }
        return true;
    }

    private void StartStep(Worker worker, RunStep run)
    {
        var app = worker.Journal.Name;
        var token = _stopping.Token;
        _log.Write(app, $"{LifecycleNames.Of(run.Step)}: {app} {run.Deploy.Version}", false);
        worker.Running = Task.Run(async () =>
        {
            StepOutcome outcome;
            try
            {
                outcome = await _steps.RunAsync(app, run.Step, run.Deploy, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception x)
            {
                Fail(worker, x);
                return;
            }
            Post(worker, outcome.Reason is null ? new StepSucceeded(run.Step, outcome) : new StepFailed(run.Step, outcome));
        });
    }

    private async Task ApplyAsync(string app, ApplyRelease apply)
    {
        try
        {
            var release = ResolvedRelease.Load(app, apply.Version, _paths.Release(app, apply.Version), apply.Settings, _group, _secrets);
            await _process.ApplyAsync(release.Definition(), apply.Run).ConfigureAwait(false);
        }
        catch (BelayException x)
        {
            _log.Write(app, $"cannot {(apply.Run ? "run" : "stop")} {app} {apply.Version}: {x.Message}", true);
        }
        catch (InvalidOperationException x)
        {
            _log.Write(app, $"cannot {(apply.Run ? "run" : "stop")} {app} {apply.Version}: {x.Message}", true);
        }
    }

    private void Prune(string app, IReadOnlyList<string> keep)
    {
        var current = keep.Count > 0 ? keep[0] : null;
        var limit = current is null ? 3 : AppConfig.Load(_paths.Release(app, current)).KeepReleases;
        var removed = ReleaseFolders.Prune(_paths, app, keep, limit);
        if (removed.Count > 0)
        {
            _log.Write(app, $"removed old release(s) {string.Join(", ", removed)} (keep_releases = {limit})", false);
        }
    }

    private void Try(string app, Action action, string what)
    {
        try
        {
            action();
        }
        catch (Exception x) when (x is IOException or UnauthorizedAccessException or BelayException)
        {
            _log.Write(app, $"{what}: {x.Message}", true);
        }
    }

    private void Schedule(Worker worker, DateTimeOffset at)
    {
        var delay = at - _clock.GetUtcNow();
        worker.Timer?.Dispose();
        worker.Timer = _clock.CreateTimer(_ => Post(worker, new RetryDue()), null, delay < TimeSpan.Zero ? TimeSpan.Zero : delay, Timeout.InfiniteTimeSpan);
    }

    private sealed class Worker(AppJournal journal)
    {
        private volatile AppJournal _journal = journal;

        public AppJournal Journal
        {
            get => _journal;
            set => _journal = value;
        }

        public Channel<DeployEvent> Inbox { get; } = Channel.CreateUnbounded<DeployEvent>(new UnboundedChannelOptions { SingleReader = true });
        public Task Loop { get; set; } = Task.CompletedTask;
        public Task Running { get; set; } = Task.CompletedTask;
        /// <summary>Events posted and not yet carried out.</summary>
        public int Pending;
        public ITimer? Timer { get; set; }
    }
}
