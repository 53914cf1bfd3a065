using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text.Json;
using System.Threading.Channels;
using Belay.Core;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Services;
using Belay.Core.Update;

namespace Belay.Keeper;

/// <summary>
/// `belay run`, the keeper: the thin shell around <see cref="KeeperMachine"/>. It feeds the
/// machine events (boot, the agent's readiness and exit, timer ticks, switch and rollback
/// requests from the control channel, SIGTERM/SIGINT) and carries out its actions in
/// order: persist the state first, then stop or start the agent, schedule a tick, log,
/// exit. One keeper per installation: a lock file says so.
/// Hazard: when the keeper stops an agent on purpose (a switch), that agent's exit must
/// not count as a failure of the next one, so exits are tagged with the start they belong to.
/// </summary>
internal sealed class KeeperHost : IDisposable
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Stopping everything waits longer: the agent first stops its programs (each within its stop_timeout).</summary>
    private static readonly TimeSpan StopAllTimeout = TimeSpan.FromSeconds(30);

    private readonly InstallConfig _config;
    private readonly string _configPath;
    private readonly InstallLayout _layout;
    private readonly KeeperMachine _machine;
    private readonly TimeProvider _clock;
    private readonly Channel<(KeeperEvent Event, int Generation)> _events = Channel.CreateUnbounded<(KeeperEvent, int)>();
    private readonly SystemdNotify _notify = new();
    private bool _readyNotified;

    /// <summary>When the executable's pages go back again after a switch, a rollback or an agent's restart (PageReleaseSchedule).</summary>
    private readonly PageReleaseSchedule _pages;

    /// <summary>The latest tick posted for <see cref="_pages"/>: one wake-up when a release comes due, none while idle.</summary>
    private DateTimeOffset _pagesTickAt = DateTimeOffset.MinValue;

    /// <summary>
    /// How often the keeper collects, and gives its executable's pages back with it when nothing is going on
    /// (<see cref="PageReleaseSchedule.DueAtCollection"/>): what runs now and then (the reaper's scan, a state
    /// write, a control request) faults in 64 KiB windows of code that would otherwise stay for good, and an idle
    /// keeper allocates so little that its heap would keep start-up's pages (docs/architecture.md, "Ninth round").
    /// </summary>
    private static readonly TimeSpan CollectEvery = TimeSpan.FromMinutes(10);

    /// <summary>Set by the collection timer before it posts its tick; the event loop collects and clears it.</summary>
    private volatile bool _collectionDue;

    /// <summary>A trial is running: its commit or rollback is still to come, so the pages stay (one delegate, not one an event).</summary>
    private readonly Func<bool> _trialPending;

    /// <summary>A stop of the service (SIGTERM, uninstall) was asked: the agent stops its programs. Any other
    /// stop of the agent (switch, trial, rollback) is a handover: the programs keep running.</summary>
    private bool _stopRequested;
    private AgentRun? _agent;
    private int _generation;
    private readonly string? _selfExe = Environment.ProcessPath;
    private readonly OrphanReaper? _reaper;
    private readonly SpawnThread _spawner = new();
    private KeeperSnapshot _snapshot;

    public KeeperHost(InstallConfig config, string configPath, TimeProvider clock)
    {
        _config = config;
        _configPath = configPath;
        _layout = config.Layout;
        _clock = clock;
        _pages = new PageReleaseSchedule(clock);
        _machine = new KeeperMachine(new KeeperPolicy { TrialDeadline = config.TrialDeadlineValue, MaxTries = config.MaxTries });
        _snapshot = KeeperSnapshot.Starting(InstallStateStore.Load(_layout.StateFile));
        _trialPending = () => _snapshot.State.Trial is not null;
        if (!OperatingSystem.IsWindows())
        {
            _reaper = new OrphanReaper(_layout, Log);
        }
    }

    public void Dispose() => _notify.Dispose();

    /// <summary>Called once, when the first agent is ready (the Windows service host reports SERVICE_RUNNING then).</summary>
    public Action<string>? OnReady { get; init; }

    /// <summary>Asks the keeper to stop, as SIGTERM does (the Windows service host calls it on SERVICE_CONTROL_STOP).</summary>
    public void RequestStop() => Post(new StopRequested());

    public static void Log(string message) =>
        KeeperLog.WriteLine($"{DateTimeOffset.Now.ToString("yyyy-MM-ddTHH:mm:ss.fffzzz", CultureInfo.InvariantCulture)} keeper {message}");

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_layout.StateDir);
        var exitCode = ExitCodes.Ok;
        using (var keeperLock = TakeLock(_layout.KeeperLockFile))
        {
            AtomicFile.WriteAllText(_layout.KeeperPidFile, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            // A channel that cannot be opened (Wine has no AF_UNIX sockets) is said at once; the keeper
            // still runs the current agent, which cannot report readiness or ask for a switch without it.
            var channel = KeeperChannel.ServeAsync(_layout.KeeperSocket, HandleRequestAsync, Log, stop.Token).ContinueWith(t =>
            {
                if (t.Exception?.InnerException is { } e)
                {
                    Log($"the control channel {_layout.KeeperSocket} failed: {(e is System.Net.Sockets.SocketException se ? $"{se.SocketErrorCode} ({se.ErrorCode})" : SystemErrors.Describe(e))}; the agent cannot report readiness or ask for updates");
                }
            }, TaskScheduler.Default);
            Log($"started (pid {Environment.ProcessId}, version {BuildInfo.Version}, config {_configPath}); current {_snapshot.State.Current}" +
                (_snapshot.State.Trial is { } t ? $", trial of {t.Version} pending ({t.Tries}/{t.MaxTries} tries used)" : ""));
            Post(new Boot());
            var watchdog = _notify.WatchdogInterval is { } every ? PingWatchdogAsync(every, stop.Token) : Task.CompletedTask;
            var reaper = _reaper is null || OperatingSystem.IsWindows() ? Task.CompletedTask : _reaper.RunAsync(stop.Token);
            var collector = Task.CompletedTask;
            try
            {
                await foreach (var (e, generation) in _events.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
                {
                    if (e is AgentExited && generation != _generation)
                    {
                        continue; // an agent we stopped on purpose
                    }
                    _stopRequested |= e is StopRequested;
                    var decision = _machine.Decide(_snapshot, e, _clock.GetUtcNow());
                    _snapshot = decision.Snapshot;
                    ReportToServiceManager(e);
                    if (e is AgentReady && !_pages.StartupReleased)
                    {
                        // Start-up is over: its garbage and the executable's pages that only start-up used go back (StartupPages).
                        HeapTrim.CollectThenReleasePages();
                        _pages.Released();
                        collector = CollectPeriodicallyAsync(stop.Token);
                    }
                    else if (e is AgentReady or AgentExited or SwitchRequested or RollbackRequested)
                    {
                        _pages.WorkHappened(); // a switch, a trial, a rollback, an agent started again
                    }
                    try
                    {
                        if (await CarryOutAsync(decision.Actions).ConfigureAwait(false))
                        {
                            break;
                        }
                        ReleasePagesWhenDue();
                    }
                    catch (Exception failed) when (failed is IOException or UnauthorizedAccessException)
                    {
                        // A state that cannot be written (a full disk) is never acted on: the keeper stops here, and
                        // starts again from the state on disk (the service manager restarts it), as KeeperAction says.
                        Log($"{IOErrors.DescribeWrite(failed, IOErrors.PathIn(failed) ?? _layout.StateFile)}; stopping, to start again from the state on disk");
                        exitCode = ExitCodes.Error;
                        break;
                    }
                }
            }
            finally
            {
                _notify.Stopping();
                await StopAgentAsync(kill: false).ConfigureAwait(false);
                await stop.CancelAsync().ConfigureAwait(false);
                await channel.ConfigureAwait(false);
                await watchdog.ConfigureAwait(false);
                await reaper.ConfigureAwait(false);
                await collector.ConfigureAwait(false);
                File.Delete(_layout.KeeperPidFile);
                Log("stopped");
            }
        }
        return exitCode;

        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            Post(new StopRequested());
        }
    }

    /// <summary>READY=1 once the first agent is ready (Type=notify), then STATUS= lines as versions change.</summary>
    private void ReportToServiceManager(KeeperEvent e)
    {
        if ((!_notify.Enabled && OnReady is null) || e is not (AgentReady or SwitchRequested or RollbackRequested or AgentExited))
        {
            return;
        }
        var s = _snapshot;
        var status = s.Runtime.AgentReady ? $"agent {s.Runtime.AgentVersion} ready" : s.State.Trial is { } t ? $"trying {t.Version}" : $"starting {s.State.Current}";
        if (s.Runtime.AgentReady && !_readyNotified)
        {
            _readyNotified = true;
            _notify.Ready(status);
            OnReady?.Invoke(status);
        }
        else
        {
            _notify.Status(status);
        }
    }

    private async Task PingWatchdogAsync(TimeSpan every, CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                _notify.Watchdog();
                await Task.Delay(every, _clock, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Every <see cref="CollectEvery"/> from start-up's release on, asks the event loop to collect (a tick the machine ignores).</summary>
    private async Task CollectPeriodicallyAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(CollectEvery, _clock, cancellationToken).ConfigureAwait(false);
                _collectionDue = true;
                Post(new Tick());
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Post(KeeperEvent e, int generation = 0) => _events.Writer.TryWrite((e, generation));

    /// <summary>Carries out actions in order; true when the keeper should exit.</summary>
    private async Task<bool> CarryOutAsync(IReadOnlyList<KeeperAction> actions)
    {
        foreach (var action in actions)
        {
            switch (action)
            {
                case PersistState persist:
                    InstallStateStore.Persist(_layout.StateFile, persist);
                    break;
                case StopAgent stopAgent:
                    await StopAgentAsync(stopAgent.Kill).ConfigureAwait(false);
                    break;
                case StartAgent start:
                    StartAgent(start.Version);
                    break;
                case ScheduleTick tick:
                    _ = TickAtAsync(tick.At);
                    break;
                case Log log:
                    Log(log.Message);
                    break;
                case ExitKeeper:
                    return true;
                default:
                    throw new InvalidOperationException($"unknown keeper action {action}");
            }
        }
        return false;
    }

    /// <summary>
    /// The periodic collection, when its timer asked for it, with the executable's pages when nothing is going on; else
    /// gives the pages back again once one-time work since the last release has settled (not during a trial: its commit
    /// or rollback is still to come); when that is later, one tick is posted for then (a tick finds no deadline due
    /// before its time, so the machine ignores it).
    /// </summary>
    private void ReleasePagesWhenDue()
    {
        if (_collectionDue)
        {
            _collectionDue = false;
            if (_pages.DueAtCollection(_trialPending))
            {
                HeapTrim.CollectThenReleasePages();
                return;
            }
            HeapTrim.Collect();
        }
        if (_pages.Due(_trialPending))
        {
            HeapTrim.CollectThenReleasePages();
        }
        else if (_pages.DueAt is { } at && at > _pagesTickAt)
        {
            _pagesTickAt = at;
            _ = TickAtAsync(at);
        }
    }

    /// <summary>Posts a Tick no earlier than <paramref name="at"/>: timers may fire a little early, and an early tick finds nothing due.</summary>
    private async Task TickAtAsync(DateTimeOffset at)
    {
        for (var left = at - _clock.GetUtcNow(); left > TimeSpan.Zero; left = at - _clock.GetUtcNow())
        {
            await Task.Delay(left + TimeSpan.FromMilliseconds(5), _clock).ConfigureAwait(false);
        }
        Post(new Tick());
    }

    private void StartAgent(string version)
    {
        var exe = _layout.AgentExe(version);
        var generation = ++_generation;
        _agent?.Process.Dispose(); // the run before, whose exit was seen
        _agent = null;
        // On Unix through this executable's `agent-exec` mode, so that the agent leads a process group of its own (AgentExec).
        var viaHelper = !OperatingSystem.IsWindows() && _selfExe is not null;
        var psi = new ProcessStartInfo(viaHelper ? _selfExe! : exe) { UseShellExecute = false, WorkingDirectory = _layout.VersionDir(version) };
        if (viaHelper)
        {
            psi.ArgumentList.Add(AgentExec.Verb);
            psi.ArgumentList.Add(exe);
        }
        psi.ArgumentList.Add("run");
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(_configPath);
        foreach (var (name, value) in KeeperChannel.AgentEnvironment(_layout.KeeperSocket, version, Environment.ProcessId, !OperatingSystem.IsWindows()))
        {
            psi.Environment[name] = value;
        }
        try
        {
            var process = _spawner.Start(psi);
            var pid = process.Id;
            _agent = new AgentRun(process, pid, WatchAsync(process, pid, version, viaHelper, generation));
            Log($"started agent {version} (pid {pid})");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            Log($"cannot start agent {version} ({exe}): {SystemErrors.Describe(e)}");
            Post(new AgentExited(127), generation);
        }
    }

    /// <summary>Waits for the agent's exit, ends its process group, and reports the exit (ignored when the
    /// keeper stopped it on purpose: the generation moved on). Completes with the exit code.</summary>
    private async Task<int> WatchAsync(Process process, int pid, string version, bool ownGroup, int generation)
    {
        await process.WaitForExitAsync().ConfigureAwait(false);
        var code = process.ExitCode;
        if (ownGroup && !OperatingSystem.IsWindows())
        {
            _reaper?.EndAgentGroup(pid, version);
        }
        Post(new AgentExited(code), generation);
        return code;
    }

    /// <summary>
    /// Windows has no signals: the agent's control channel carries the request (HANDOVER or SHUTDOWN). True when
    /// the agent stopped in time; false when it must be killed (its programs' jobs close with it, kill-on-close).
    /// A method of its own so that the Unix keeper does not carry the channel's client (NativeAOT drops it there).
    /// </summary>
    [SupportedOSPlatform("windows")]
    private async Task<bool> AskAgentToStopAsync(AgentRun run, bool handOver)
    {
        var timeout = handOver ? StopTimeout : StopAllTimeout;
        try
        {
            var reply = await Belay.Core.Programs.AgentClient.SendAsync(Belay.Core.Programs.ProgramPaths.For(_layout), handOver ? "HANDOVER" : "SHUTDOWN",
                TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            if (reply.StartsWith("OK", StringComparison.Ordinal)
                && await Task.WhenAny(run.Exited, Task.Delay(timeout, _clock)).ConfigureAwait(false) == run.Exited)
            {
                Log($"agent (pid {run.Pid}) stopped, exit {run.Exited.Result}");
                return true;
            }
            Log(reply.StartsWith("OK", StringComparison.Ordinal)
                ? $"agent (pid {run.Pid}) did not stop within {timeout.TotalSeconds:0} s; killing it"
                : $"agent (pid {run.Pid}) refused to stop ({reply}); killing it");
        }
        catch (BelayException e)
        {
            Log($"agent (pid {run.Pid}) cannot be asked to stop ({e.Message}); killing it");
        }
        return false;
    }

    private async Task StopAgentAsync(bool kill)
    {
        var run = _agent;
        _agent = null;
        _generation++; // whatever it does now is not news
        if (run is null)
        {
            return;
        }
        using var process = run.Process;
        if (run.Exited.IsCompleted)
        {
            return;
        }
        var handOver = !_stopRequested;
        if (!kill && !OperatingSystem.IsWindows())
        {
            // SIGUSR2: hand over (exit, leave the programs running); SIGTERM: stop the programs, then exit.
            Posix.SendSignal(run.Pid, handOver ? PosixProcess.SigUsr2 : Posix.SigTerm);
            var timeout = handOver ? StopTimeout : StopAllTimeout;
            if (await Task.WhenAny(run.Exited, Task.Delay(timeout, _clock)).ConfigureAwait(false) == run.Exited)
            {
                Log($"agent (pid {run.Pid}) stopped, exit {run.Exited.Result}");
                return;
            }
            Log($"agent (pid {run.Pid}) did not stop within {timeout.TotalSeconds:0} s; killing it");
        }
        if (!kill && OperatingSystem.IsWindows() && await AskAgentToStopAsync(run, handOver).ConfigureAwait(false))
        {
            return;
        }
        // A handover kills the agent alone: its programs are its descendants and must survive it (what
        // else it started goes with its process group once its exit is seen).
        try
        {
            process.Kill(entireProcessTree: !handOver);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It exited meanwhile.
        }
        await run.Exited.ConfigureAwait(false);
        Log($"agent (pid {run.Pid}) killed");
        if (!handOver && !OperatingSystem.IsWindows())
        {
            OrphanReaper.KillPrograms(_layout, Log);
        }
    }

    /// <summary>One start of an agent: its process (disposed once the keeper is done with it) and the task of its exit.</summary>
    private sealed record AgentRun(Process Process, int Pid, Task<int> Exited);

    private Task<string> HandleRequestAsync(string request)
    {
        var parts = request.Split(' ', 2, StringSplitOptions.TrimEntries);
        switch (parts[0])
        {
            case "READY":
                Post(new AgentReady(parts.Length > 1 ? parts[1] : _snapshot.Runtime.AgentVersion ?? ""));
                return Task.FromResult("OK");
            case "SWITCH" when parts.Length > 1:
                var version = parts[1];
                if (!File.Exists(_layout.AgentExe(version)))
                {
                    return Task.FromResult($"ERR version {version} is not staged ({_layout.AgentExe(version)} missing)");
                }
                Post(new SwitchRequested(version));
                return Task.FromResult("OK switch requested");
            case "ROLLBACK":
                Post(new RollbackRequested());
                return Task.FromResult("OK rollback requested");
            case "STATUS":
                var s = _snapshot;
                var status = new KeeperStatus
                {
                    Pid = Environment.ProcessId,
                    Version = BuildInfo.Version,
                    AgentPid = _agent is { Exited.IsCompleted: false } a ? a.Pid : null,
                    AgentVersion = s.Runtime.AgentVersion,
                    AgentReady = s.Runtime.AgentReady,
                    AgentExits = s.Runtime.ConsecutiveFailures,
                    LastExitCode = s.Runtime.LastExitCode,
                    Starting = s.State.Trial?.Version ?? s.State.Current,
                };
                return Task.FromResult(JsonSerializer.Serialize(status, KeeperJsonContext.Default.KeeperStatus));
            default:
                return Task.FromResult($"ERR unknown request '{parts[0]}' (READY, SWITCH v, ROLLBACK, STATUS)");
        }
    }

    // Placed last: members added above RunAsync renumber its compiler-generated state machine, which the order file names.
    /// <summary>
    /// Takes keeper.lock, which says "a keeper runs here" for as long as this process lives. `belay` asks whether a
    /// keeper runs by taking it for a moment (<see cref="KeeperExit.IsRunning"/>), so a lock found taken is tried again
    /// for a second before another keeper is believed to hold it: a keeper must not give up because a status looked.
    /// </summary>
    private static FileStream TakeLock(string path)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
            {
                if (attempt >= LockAttempts)
                {
                    throw new BelayException($"another keeper is already running for this installation ({path} is locked)", e);
                }
                Thread.Sleep(50);
            }
        }
    }

    private const int LockAttempts = 20;
}
