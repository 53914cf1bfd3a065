using System.Diagnostics;
using System.Runtime.Versioning;
using System.Threading.Channels;
using Belay.Core.Deploy;
using Belay.Core.IO;
using Belay.Core.Programs;
using Serilog;

namespace Belay.Agent.Supervision;

/// <summary>
/// Runs the programs of programs.conf: starts them in priority order, restarts them by
/// policy (<see cref="RestartDecider"/> decides, this carries out), stops them by process
/// group, and keeps state/programs/state.json so that the next agent adopts them instead of
/// starting them again. Everything that changes a program runs on one loop (an inbox of
/// work items plus a timer for the next due restart, kill or check): no locks, no thread
/// per program. Exits of its own children come from Process.WaitForExitAsync; programs it
/// adopted (started by an earlier agent, now children of the keeper) are checked once a
/// second by pid and start time, and their exit status is read from the record the keeper
/// writes when it reaps them (state/programs/NAME.exit).
/// Two ways to end: <see cref="StopAllAsync"/> (service stop, uninstall) stops every
/// program; <see cref="HandOverAsync"/> (an update, a rollback) leaves them running.
/// </summary>
internal sealed class Supervisor : IDisposable
{
    /// <summary>How long an adopted program that is gone may wait for the keeper's exit record.</summary>
    private static readonly TimeSpan ExitRecordWait = TimeSpan.FromSeconds(3);

    private readonly ProgramPaths _paths;
    private readonly ILogger _log;
    private readonly TimeProvider _clock;
    private readonly IProgramHost _host;
    private readonly Channel<Action> _inbox = Channel.CreateUnbounded<Action>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, Managed> _programs = new(StringComparer.Ordinal);
    private Task _loop = Task.CompletedTask;
    private bool _quit;
    private bool _shuttingDown;

    public Supervisor(ProgramPaths paths, ILogger log, TimeProvider clock, IProgramHost host)
    {
        _paths = paths;
        _log = log;
        _clock = clock;
        _host = host;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(paths.StateDir); // owner-only by the ACL of the state folder it is in
        }
        else
        {
            Directory.CreateDirectory(paths.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.SetUnixFileMode(paths.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        Directory.CreateDirectory(paths.LogDir);
    }

    /// <summary>Adopts the programs an earlier agent left running, starts the rest, and runs the loop.</summary>
    public Task StartAsync(IReadOnlyList<ProgramDefinition> definitions)
    {
        _loop = Task.Run(LoopAsync);
        return Invoke(() => Adopt(definitions));
    }

    public Task<List<ProgramStatus>> StatusAsync() => Invoke(Status);

    /// <summary>Applies a new config: starts new programs, stops removed ones, restarts changed ones, retries fatal ones; leaves the rest alone.</summary>
    public Task<string> ReloadAsync(IReadOnlyList<ProgramDefinition> definitions) => Invoke(() => Reload(definitions));

    public async Task<string> StartProgramAsync(string name) => await Invoke(() => Command(name, m =>
    {
        if (m.Pid > 0 && m.State != ProgramState.Stopping)
        {
            return $"OK {name} is already running (pid {m.Pid})";
        }
        m.Failures.Clear();
        if (m.State == ProgramState.Stopping)
        {
            m.PendingStart = true;
            return $"OK {name} starts again once stopped";
        }
        Start(m, Now);
        return m.Pid > 0 ? $"OK started {name} (pid {m.Pid})" : $"ERR {name} did not start: {m.LastExit}";
    })).ConfigureAwait(false);

    public async Task<string> StopProgramAsync(string name)
    {
        var wait = await Invoke(() => CommandAsync(name, m =>
        {
            m.OperatorStopped = true;
            m.PendingStart = false;
            return Stop(m, Now);
        })).ConfigureAwait(false);
        return await wait.ConfigureAwait(false);
    }

    public async Task<string> RestartProgramAsync(string name)
    {
        var wait = await Invoke(() => CommandAsync(name, m =>
        {
            m.Failures.Clear();
            if (m.Pid > 0)
            {
                m.PendingStart = true;
                return Stop(m, Now);
            }
            Start(m, Now);
            return Task.FromResult(m.Pid > 0 ? $"OK started {name} (pid {m.Pid})" : $"ERR {name} did not start: {m.LastExit}");
        })).ConfigureAwait(false);
        var result = await wait.ConfigureAwait(false);
        return await Invoke(() => _programs.TryGetValue(name, out var m) && m.Pid > 0 ? $"OK restarted {name} (pid {m.Pid})" : result).ConfigureAwait(false);
    }

    /// <summary>
    /// Deployments: make the app unit <paramref name="definition"/> names ("@APP") run that definition
    /// (a process that already runs it, adopted or not, is left alone; one of another release or
    /// environment is stopped first with this definition's stop signal and timeout), or, when not
    /// <paramref name="run"/>, stop it and keep it stopped. Completes once it is started or stopped.
    /// </summary>
    public async Task<string> ApplyAppAsync(ProgramDefinition definition, bool run)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var wait = await Invoke(() => ApplyApp(definition, run)).ConfigureAwait(false);
        return await wait.ConfigureAwait(false);
    }

    /// <summary>Deployments: stop the app unit (if it runs) and forget it, its FIFOs included; its logs stay.</summary>
    public async Task<string> RemoveAppAsync(string unit)
    {
        var wait = await Invoke(() =>
        {
            if (!_programs.TryGetValue(unit, out var m) || !m.IsApp)
            {
                return Task.FromResult($"OK {unit} is not supervised");
            }
            m.Removed = true;
            m.PendingStart = false;
            if (m.Pid > 0)
            {
                return Stop(m, Now);
            }
            _programs.Remove(unit);
            Forget(unit);
            Persist();
            return Task.FromResult($"OK {unit} removed");
        }).ConfigureAwait(false);
        return await wait.ConfigureAwait(false);
    }

    /// <summary>The app unit as `belay status` would show a program, or null when it is not supervised.</summary>
    public Task<AppProcessInfo?> AppStatusAsync(string unit) =>
        Invoke(() => _programs.TryGetValue(unit, out var m) && m.IsApp && !m.Removed ? new AppProcessInfo(Describe(m, Now), m.Definition.Hash) : null);

    private Task<string> ApplyApp(ProgramDefinition d, bool run)
    {
        if (!AppPaths.IsUnit(d.Name))
        {
            throw new ArgumentException($"{d.Name} is not an app unit", nameof(d));
        }
        var now = Now;
        if (!_programs.TryGetValue(d.Name, out var m))
        {
            m = new Managed(d) { State = ProgramState.Stopped, OperatorStopped = !run };
            _programs[m.Name] = m;
            if (!run)
            {
                Persist();
                return Task.FromResult($"OK {m.Name} is stopped");
            }
            Start(m, now);
            return Task.FromResult(m.Pid > 0 ? $"OK started {m.Name} (pid {m.Pid})" : $"ERR {m.Name} did not start: {m.LastExit}");
        }
        var same = m.Definition.Hash == d.Hash;
        m.Removed = false;
        m.Definition = d;
        if (!same)
        {
            // Another release (or environment) starts its own count.
            m.Restarts = 0;
            m.EverStarted = false;
        }
        if (!run)
        {
            m.PendingStart = false;
            m.OperatorStopped = true;
            return Stop(m, now);
        }
        m.OperatorStopped = false;
        if (m.Pid > 0 && same && m.State != ProgramState.Stopping)
        {
            PumpLogs(m);
            Persist();
            return Task.FromResult($"OK {m.Name} runs (pid {m.Pid})");
        }
        m.Failures.Clear();
        if (m.Pid > 0)
        {
            m.PendingStart = true;
            return Stop(m, now);
        }
        Start(m, now);
        return Task.FromResult(m.Pid > 0 ? $"OK started {m.Name} (pid {m.Pid})" : $"ERR {m.Name} did not start: {m.LastExit}");
    }

    /// <summary>Service stop or uninstall: stop every program (stop signals in reverse priority order, then SIGKILL to
    /// each group after its stop_timeout), wait for them, and end the loop.</summary>
    public async Task StopAllAsync()
    {
        var waits = await Invoke(() =>
        {
            _shuttingDown = true;
            // A stop of the service is not an operator's stop: what runs now (and every autostart program the
            // operator did not stop) starts again with the service. Recorded before the first stop signal, so
            // that an agent killed in the middle of this still leaves the record.
            foreach (var m in _programs.Values)
            {
                m.ResumeWithService = !m.OperatorStopped && !m.Removed
                    && (m.Definition.Autostart || m.Pid > 0 || m.PendingStart || m.State is ProgramState.Starting or ProgramState.Running or ProgramState.Backoff);
            }
            Persist();
            var now = Now;
            return _programs.Values.OrderByDescending(m => m.Definition.Priority).Select(m => Stop(m, now)).ToList();
        }).ConfigureAwait(false);
        await Task.WhenAll(waits).ConfigureAwait(false);
        await Invoke(() =>
        {
            Persist();
            _quit = true;
            return 0;
        }).ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
    }

    /// <summary>An update or rollback: record where everything is and end the loop, leaving the programs running
    /// (and their unread output in their FIFOs) for the next agent.</summary>
    public async Task HandOverAsync()
    {
        await Invoke(() =>
        {
            Persist();
            _quit = true;
            return 0;
        }).ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _log.Information("handing {Count} program(s) over to the next agent", _programs.Values.Count(m => m.Pid > 0));
        _host.HandOver();
    }

    public void Dispose() => _host.Dispose();

    private DateTimeOffset Now => _clock.GetUtcNow();

    private Task<T> Invoke<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var posted = _inbox.Writer.TryWrite(() =>
        {
            try
            {
                done.SetResult(_quit ? throw new InvalidOperationException("the agent is stopping") : work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        });
        if (!posted)
        {
            done.SetException(new InvalidOperationException("the agent is stopping"));
        }
        return done.Task;
    }

    /// <summary>Posts an event (an exit); dropped once the loop has ended: the next agent picks up from the state file.</summary>
    private void Post(Action work) => _inbox.Writer.TryWrite(() =>
    {
        if (!_quit)
        {
            work();
        }
    });

    private async Task LoopAsync()
    {
        // One wait for the inbox is kept until a post completes it. Asking again each time the timer won made the
        // single-reader channel cancel the wait it already had: an OperationCanceledException thrown and caught
        // every minute of an idle agent (callgrind), with its dispatch code and tables faulted in for it.
        Task<bool>? read = null;
        while (!_quit)
        {
            try
            {
                var now = Now;
                Tick(now);
                var delay = NextWake(now);
                read ??= _inbox.Reader.WaitToReadAsync().AsTask();
                if (!read.IsCompleted)
                {
                    using var cancel = new CancellationTokenSource();
                    var timer = Task.Delay(delay, _clock, cancel.Token);
                    await Task.WhenAny(read, timer).ConfigureAwait(false);
                    await cancel.CancelAsync().ConfigureAwait(false);
                }
                if (read.IsCompleted)
                {
                    read = null;
                }
                while (!_quit && _inbox.Reader.TryRead(out var work))
                {
                    work();
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // A failure of one step (a full disk, a call the system refused) must not end supervision: the loop goes on.
                _log.Error("supervisor: {Error}", SystemErrors.Describe(e));
                await Task.Delay(TimeSpan.FromMilliseconds(200), _clock).ConfigureAwait(false);
            }
        }
        _inbox.Writer.TryComplete();
        while (_inbox.Reader.TryRead(out var left))
        {
            left(); // requests that came too late fail; events are dropped
        }
    }

    private TimeSpan NextWake(DateTimeOffset now)
    {
        var next = now + TimeSpan.FromMinutes(1);
        foreach (var m in _programs.Values)
        {
            DateTimeOffset? due = m.State switch
            {
                ProgramState.Starting when m.StartedAt is { } s => s + m.Definition.StartTimeout,
                ProgramState.Backoff => m.RestartAt,
                ProgramState.Stopping => m.KillAt,
                _ => null,
            };
            if (m.Adopted && m.Pid > 0)
            {
                due = Min(due, now + (m.GoneSince is null ? TimeSpan.FromSeconds(1) : TimeSpan.FromMilliseconds(200)));
            }
            if (due is { } d && d < next)
            {
                next = d;
            }
        }
        var delay = next - now;
        return delay < TimeSpan.FromMilliseconds(5) ? TimeSpan.FromMilliseconds(5) : delay;
    }

    private static DateTimeOffset? Min(DateTimeOffset? a, DateTimeOffset b) => a is { } x && x < b ? x : b;

    private void Tick(DateTimeOffset now)
    {
        var changed = false;
        foreach (var m in _programs.Values.ToList())
        {
            if (m.State == ProgramState.Starting && m.Pid > 0 && m.StartedAt is { } s && now - s >= m.Definition.StartTimeout)
            {
                m.State = ProgramState.Running;
                changed = true;
            }
            if (m.State == ProgramState.Backoff && m.RestartAt is { } at && at <= now && !_shuttingDown)
            {
                Start(m, now);
            }
            if (m.State == ProgramState.Stopping && m.KillAt is { } kill && kill <= now && m.Pid > 0)
            {
                _log.Warning("{Program} (pid {Pid}) did not stop within {Timeout} s; killing {What}", m.Name, m.Pid, m.Definition.StopTimeout.TotalSeconds,
                    OperatingSystem.IsWindows() ? "its job" : "its process group");
                _host.Kill(m.Pid);
                m.KillAt = null;
            }
            if (m.Adopted && m.Pid > 0)
            {
                CheckAdopted(m, now);
            }
        }
        if (changed)
        {
            Persist();
        }
    }

    private void CheckAdopted(Managed m, DateTimeOffset now)
    {
        if (m.GoneSince is null)
        {
            if (_host.IsSameProcessAlive(m.Pid, m.StartTime))
            {
                return;
            }
            m.GoneSince = now;
        }
        if (ExitRecord.TryLoad(_paths.ExitRecord(m.Name)) is { } record && record.Pid == m.Pid)
        {
            File.Delete(_paths.ExitRecord(m.Name));
            OnExit(m, now, record.Status == 0, _host.DescribeExit(record.Status));
        }
        else if (now - m.GoneSince >= ExitRecordWait)
        {
            OnExit(m, now, false, "exit unknown (ended while no agent was its parent)");
        }
    }

    private string Adopt(IReadOnlyList<ProgramDefinition> definitions)
    {
        var now = Now;
        var state = ProgramsStateFile.TryLoad(_paths.StateFile, out var damaged);
        foreach (var problem in damaged)
        {
            _log.Error("{Problem}", problem);
        }
        var byName = definitions.ToDictionary(d => d.Name, StringComparer.Ordinal);
        var toStart = new List<Managed>();
        foreach (var record in state?.Programs ?? [])
        {
            var alive = record.Pid > 0 && _host.IsSameProcessAlive(record.Pid, record.StartTime);
            if (AppPaths.IsUnit(record.Name) && !byName.ContainsKey(record.Name))
            {
                AdoptApp(record, alive);
                continue;
            }
            if (!byName.TryGetValue(record.Name, out var definition))
            {
                if (alive && ProgramsConfig.IsValidName(record.Name))
                {
                    var orphan = new Managed(new ProgramDefinition { Name = record.Name, Command = ["(removed)"] }) { Removed = true };
                    AdoptRunning(orphan, record);
                    _log.Information("{Program} (pid {Pid}) is no longer in {Config}; stopping it", record.Name, record.Pid, _paths.ConfigFile);
                    _ = Stop(orphan, now);
                }
                else if (ProgramsConfig.IsValidName(record.Name))
                {
                    // Removed while no agent ran, and ended: what it wrote last still reaches its logs, then its FIFOs go.
                    var gone = new ProgramDefinition { Name = record.Name, Command = ["(removed)"] };
                    PumpLogs(new Managed(gone) { SeparateStderr = record.SeparateStderr });
                    Forget(record.Name);
                }
                continue;
            }
            var m = new Managed(definition)
            {
                Restarts = record.Restarts,
                LastExit = record.LastExit,
                Failures = [.. record.Failures],
                EverStarted = record.StartedAt is not null,
                StartedAt = record.StartedAt,
            };
            _programs[m.Name] = m;
            var recorded = RestartDecider.ParseState(record.State);
            // Stopped by a stop of the service (not by the operator): it starts again now, as after a reboot.
            var resume = record.ResumeWithService && !alive && ProgramsConfig.IsValidName(record.Name);
            if (resume)
            {
                _log.Information("{Program} was stopped with the service; starting it again", m.Name);
                m.Failures.Clear();
                if (record.Pid > 0)
                {
                    File.Delete(_paths.ExitRecord(m.Name));
                }
                toStart.Add(m);
                continue;
            }
            if (alive)
            {
                AdoptRunning(m, record);
                _log.Information("adopted {Program} (pid {Pid}, {State})", m.Name, m.Pid, RestartDecider.Describe(m.State));
                if (record.Hash != definition.Hash)
                {
                    _log.Information("{Program} changed while no agent ran; restarting it", m.Name);
                    m.PendingStart = true;
                    _ = Stop(m, now);
                }
                else if (recorded == ProgramState.Stopping)
                {
                    // A stop that an earlier agent began; one the service began ends in a start.
                    m.PendingStart = record.ResumeWithService;
                    _ = Stop(m, now);
                }
            }
            else if (record.Pid > 0)
            {
                // It ended while no agent ran: take the keeper's record of how, then follow the policy.
                m.Pid = record.Pid;
                var exit = ExitRecord.TryLoad(_paths.ExitRecord(m.Name)) is { } r && r.Pid == record.Pid ? r : null;
                File.Delete(_paths.ExitRecord(m.Name));
                m.StopRequested = recorded == ProgramState.Stopping;
                OnExit(m, now, exit?.Status == 0, exit is null ? "exit unknown (ended while no agent ran)" : _host.DescribeExit(exit.Status));
            }
            else
            {
                m.State = recorded;
                m.OperatorStopped = recorded == ProgramState.Stopped;
                if (recorded is ProgramState.Backoff or ProgramState.Starting or ProgramState.Running or ProgramState.Stopping)
                {
                    toStart.Add(m);
                }
            }
        }
        foreach (var definition in definitions.Where(d => !_programs.ContainsKey(d.Name)))
        {
            var m = new Managed(definition) { State = ProgramState.Stopped };
            _programs[m.Name] = m;
            if (definition.Autostart)
            {
                toStart.Add(m);
            }
        }
        foreach (var m in toStart.OrderBy(m => m.Definition.Priority))
        {
            Start(m, now);
        }
        Persist();
        return $"{_programs.Count} program(s)";
    }

    /// <summary>
    /// A deployed app from the state file. Its definition (release, environment with secrets) is the
    /// deploy runner's to give, right after this: until then a running app is adopted as it is under
    /// a stand-in that keeps its identity and never restarts it, and one that ended stays down.
    /// </summary>
    private void AdoptApp(ProgramRecord record, bool alive)
    {
        var m = new Managed(new ProgramDefinition { Name = record.Name, Command = ["(deployed app)"], Restart = RestartPolicy.Never, Identity = record.Hash })
        {
            Restarts = record.Restarts,
            LastExit = record.LastExit,
            EverStarted = record.StartedAt is not null,
            StartedAt = record.StartedAt,
            SeparateStderr = record.SeparateStderr,
        };
        _programs[m.Name] = m;
        if (alive)
        {
            AdoptRunning(m, record);
            _log.Information("adopted app {App} (pid {Pid}); its deploy state decides what runs", m.Name[1..], m.Pid);
            return;
        }
        if (record.Pid > 0)
        {
            var exit = ExitRecord.TryLoad(_paths.ExitRecord(m.Name)) is { } r && r.Pid == record.Pid ? r : null;
            File.Delete(_paths.ExitRecord(m.Name));
            m.LastExit = exit is null ? "exit unknown (ended while no agent ran)" : _host.DescribeExit(exit.Status);
            _log.Information("app {App} (pid {Pid}) ended while no agent ran: {Exit}", m.Name[1..], record.Pid, m.LastExit);
        }
        m.State = RestartDecider.ParseState(record.State) == ProgramState.Stopped ? ProgramState.Stopped : ProgramState.Exited;
        m.OperatorStopped = m.State == ProgramState.Stopped;
    }

    private void AdoptRunning(Managed m, ProgramRecord record)
    {
        _programs[m.Name] = m;
        m.Pid = record.Pid;
        m.StartTime = record.StartTime;
        m.StartedAt = record.StartedAt;
        m.Adopted = true;
        m.EverStarted = true;
        m.State = RestartDecider.ParseState(record.State) == ProgramState.Starting ? ProgramState.Starting : ProgramState.Running;
        // Read the pipes this process writes to, which is what its record says, whatever the config says now.
        m.SeparateStderr = record.SeparateStderr;
        PumpLogs(m);
    }

    private string Reload(IReadOnlyList<ProgramDefinition> definitions)
    {
        var now = Now;
        var byName = definitions.ToDictionary(d => d.Name, StringComparer.Ordinal);
        var started = new List<string>();
        var restarted = new List<string>();
        var stopped = new List<string>();
        var unchanged = new List<string>();
        var failed = new List<string>();
        foreach (var m in _programs.Values.Where(m => !m.IsApp && !byName.ContainsKey(m.Name)).ToList())
        {
            m.Removed = true;
            m.PendingStart = false;
            stopped.Add(m.Name);
            if (m.Pid > 0)
            {
                _ = Stop(m, now);
            }
            else
            {
                _programs.Remove(m.Name);
                Forget(m.Name);
            }
        }
        foreach (var definition in definitions.OrderBy(d => d.Priority))
        {
            if (!_programs.TryGetValue(definition.Name, out var m))
            {
                m = new Managed(definition) { State = ProgramState.Stopped };
                _programs[m.Name] = m;
                if (definition.Autostart)
                {
                    Start(m, now);
                    (SpawnFailed(m) ? failed : started).Add(m.Name);
                }
                continue;
            }
            var changed = m.Definition.Hash != definition.Hash;
            m.Definition = definition;
            if (m.Pid <= 0)
            {
                m.SeparateStderr = !definition.RedirectStderr;
            }
            PumpLogs(m);
            if (changed && m.Pid > 0)
            {
                m.Failures.Clear();
                m.PendingStart = true;
                _ = Stop(m, now);
                restarted.Add(m.Name);
            }
            else if ((changed && definition.Autostart && !m.OperatorStopped && m.State is not ProgramState.Stopping) || m.State == ProgramState.Fatal)
            {
                m.Failures.Clear();
                Start(m, now);
                (SpawnFailed(m) ? failed : changed ? restarted : started).Add(m.Name);
            }
            else
            {
                unchanged.Add(m.Name);
            }
        }
        Persist();
        static string List(List<string> names) => names.Count == 0 ? "-" : string.Join(",", names);
        var summary = $"started {List(started)}; restarted {List(restarted)}; stopped {List(stopped)}; unchanged {List(unchanged)}";
        _log.Information("programs reloaded: {Summary}", summary);
        if (failed.Count > 0)
        {
            // The config is applied (the rest runs); what could not start is an error the operator must see.
            var why = string.Join("; ", failed.Select(n => $"{n}: {_programs[n].LastExit}"));
            return $"ERR programs.conf applied, but {string.Join(", ", failed)} could not start: {why} ({summary})";
        }
        return "OK " + summary;
    }

    private static bool SpawnFailed(Managed m) =>
        m.Pid <= 0 && m.State == ProgramState.Fatal && m.LastExit?.StartsWith("spawn error", StringComparison.Ordinal) == true;

    private string Command(string name, Func<Managed, string> action) =>
        _programs.TryGetValue(name, out var m) && !m.Removed && !m.IsApp ? action(m) : $"ERR no program '{name}' (belay status lists them)";

    private Task<string> CommandAsync(string name, Func<Managed, Task<string>> action) =>
        _programs.TryGetValue(name, out var m) && !m.Removed && !m.IsApp ? action(m) : Task.FromResult($"ERR no program '{name}' (belay status lists them)");

    private void Start(Managed m, DateTimeOffset now)
    {
        var d = m.Definition;
        m.StopRequested = false;
        m.PendingStart = false;
        m.OperatorStopped = false;
        m.RestartAt = null;
        m.KillAt = null;
        m.GoneSince = null;
        File.Delete(_paths.ExitRecord(m.Name));
        // A command that cannot be started is not spawned to exit 127 and back off until fatal:
        // it is fatal at once, with the reason in status and in the reply to start or reload.
        var searchPath = d.Environment.Where(kv => kv.Key == "PATH").Select(kv => kv.Value).LastOrDefault() ?? Environment.GetEnvironmentVariable("PATH");
        // (On Windows CreateProcess searches as Windows does; a failure there is the catch below.)
        if (!OperatingSystem.IsWindows() && CommandLookup.Problem(d.Command[0], d.Directory, searchPath) is { } spawnError)
        {
            _log.Error("cannot start {Program}: {Error}; it is fatal until that is fixed and belay start {Program} (or a reload)", m.Name, spawnError, m.Name);
            m.Pid = 0;
            m.LastExit = spawnError;
            m.State = ProgramState.Fatal;
            m.Failures.Clear();
            Persist();
            return;
        }
        if (m.EverStarted)
        {
            m.Restarts++;
        }
        m.EverStarted = true;
        m.StartedAt = now;
        StartedProcess started;
        try
        {
            m.SeparateStderr = !d.RedirectStderr;
            started = _host.Start(d, m.SeparateStderr);
            m.Pid = started.Pid;
            m.StartTime = started.StartTime;
            m.Adopted = false;
            m.State = ProgramState.Starting;
            var generation = ++m.Generation;
            _log.Information("started {Program} (pid {Pid}{Restarts})", m.Name, m.Pid, m.Restarts > 0 ? $", restart {m.Restarts}" : "");
            _ = started.Exited.ContinueWith(t => Post(() => OnChildExit(m, generation, t.IsCompletedSuccessfully ? t.Result : new ProgramExit(false, "exit unknown"))),
                TaskScheduler.Default);
        }
        catch (FatalSpawnException e)
        {
            _log.Error("cannot start {Program}: {Error}; it is fatal until that is fixed and belay start {Program} (or a reload)", m.Name, e.Message, m.Name);
            m.Pid = 0;
            m.LastExit = $"spawn error: {e.Message}";
            m.State = ProgramState.Fatal;
            m.Failures.Clear();
            Persist();
            return;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            _log.Error("cannot start {Program}: {Error}", m.Name, SystemErrors.Describe(e));
            m.Pid = 0;
            OnExit(m, now, false, $"spawn error: {SystemErrors.Describe(e)}");
            return;
        }
        // Recorded before it runs: the next agent adopts it (or ends it), whenever this one dies.
        Persist();
        started.Proceed?.Invoke();
    }

    private void OnChildExit(Managed m, int generation, ProgramExit exit)
    {
        if (generation != m.Generation || m.Pid <= 0 || m.Adopted)
        {
            return;
        }
        OnExit(m, Now, exit.Success, exit.Description);
    }

    private void OnExit(Managed m, DateTimeOffset now, bool success, string description)
    {
        if (m.Pid > 0)
        {
            // Whatever the program left in its group or job (a background child) goes with it.
            _host.Ended(m.Pid);
        }
        var pid = m.Pid;
        m.Pid = 0;
        m.StartTime = 0;
        m.Adopted = false;
        m.GoneSince = null;
        m.KillAt = null;
        m.LastExit = description;
        if (m.Removed)
        {
            _programs.Remove(m.Name);
            Forget(m.Name);
            _log.Information("{Program} (pid {Pid}) ended ({Exit}) and is removed", m.Name, pid, description);
            m.CompleteWaiters($"OK {m.Name} stopped ({description})");
            Persist();
            return;
        }
        var decision = RestartDecider.OnExit(m.Definition, m.Failures, m.StartedAt ?? now, now, success, m.StopRequested || _shuttingDown);
        m.Failures = [.. decision.Failures];
        m.State = decision.State;
        m.RestartAt = decision.RestartAt;
        m.StopRequested = false;
        if (decision.State == ProgramState.Fatal)
        {
            _log.Error("{Program} (pid {Pid}) {Exit}: {Reason}; it is fatal until belay restart {Program} or a reload", m.Name, pid, description, decision.Reason, m.Name);
        }
        else
        {
            _log.Information("{Program} (pid {Pid}) {Exit}: {State}, {Reason}", m.Name, pid, description, RestartDecider.Describe(decision.State), decision.Reason);
        }
        if (m.PendingStart && !_shuttingDown)
        {
            Start(m, now);
        }
        m.CompleteWaiters($"OK {m.Name} {(m.Pid > 0 ? $"running (pid {m.Pid})" : $"stopped ({description})")}");
        Persist();
    }

    /// <summary>Sends the stop signal to the program's group and arms the SIGKILL; the task completes when it is gone.</summary>
    private Task<string> Stop(Managed m, DateTimeOffset now)
    {
        m.RestartAt = null;
        if (m.Pid <= 0)
        {
            if (m.State is ProgramState.Backoff or ProgramState.Starting or ProgramState.Running)
            {
                m.State = ProgramState.Stopped;
            }
            if (m.PendingStart)
            {
                Start(m, now);
            }
            Persist();
            return Task.FromResult($"OK {m.Name} is {RestartDecider.Describe(m.State)}");
        }
        var wait = m.AddWaiter();
        if (m.State != ProgramState.Stopping)
        {
            m.StopRequested = true;
            m.State = ProgramState.Stopping;
            m.KillAt = now + m.Definition.StopTimeout;
            var generation = m.Generation;
            var pid = m.Pid;
            _ = _host.RequestStopAsync(pid, m.Definition).ContinueWith(t => Post(() =>
            {
                var undelivered = t.IsCompletedSuccessfully ? t.Result : t.Exception?.InnerException?.Message ?? "the stop request failed";
                if (undelivered is not null && m.Generation == generation && m.Pid == pid && m.State == ProgramState.Stopping)
                {
                    // Nothing can ask it to stop (no console, no window): waiting stop_timeout would change nothing.
                    _log.Warning("{Program} (pid {Pid}) cannot be asked to stop ({Why}); ending it now", m.Name, pid, undelivered);
                    _host.Kill(pid);
                    m.KillAt = null;
                }
            }), TaskScheduler.Default);
            Persist();
        }
        return wait;
    }

    private List<ProgramStatus> Status()
    {
        var now = Now;
        return [.. _programs.Values.Where(m => !m.IsApp).OrderBy(m => m.Definition.Priority).ThenBy(m => m.Name, StringComparer.Ordinal).Select(m => Describe(m, now))];
    }

    private static ProgramStatus Describe(Managed m, DateTimeOffset now) => new()
    {
        Name = m.Name,
        State = RestartDecider.Describe(m.State),
        Pid = m.Pid > 0 ? m.Pid : null,
        StartedAt = m.Pid > 0 ? m.StartedAt : null,
        UptimeSeconds = m.Pid > 0 && m.StartedAt is { } s ? Math.Round((now - s).TotalSeconds, 1) : null,
        Restarts = m.Restarts,
        LastExit = m.LastExit,
        Command = [.. m.Definition.Command],
        Environment = Secrets.MaskEnvironment(m.Definition.Environment, m.Definition.SecretKeys),
        User = m.Definition.User,
        Detail = m.State == ProgramState.Backoff && m.RestartAt is { } at ? $"restart in {Math.Max(0, (at - now).TotalSeconds):0.0} s" : null,
    };

    private void Persist()
    {
        try
        {
            new ProgramsStateFile
            {
                AgentPid = Environment.ProcessId,
                Programs = [.. _programs.Values.Select(m => new ProgramRecord
                {
                    Name = m.Name,
                    State = RestartDecider.Describe(m.State),
                    ResumeWithService = m.ResumeWithService,
                    Pid = m.Pid,
                    StartTime = m.StartTime,
                    StartedAt = m.StartedAt,
                    Hash = m.Definition.Hash,
                    SeparateStderr = m.SeparateStderr,
                    Restarts = m.Restarts,
                    LastExit = m.LastExit,
                    Failures = [.. m.Failures],
                })],
            }.Save(_paths.StateFile);
        }
        catch (IOException e)
        {
            _log.Error("cannot write {File}: {Error}", _paths.StateFile, SystemErrors.Describe(e));
        }
    }

    /// <summary>Makes sure the program's output reaches its logs (see <see cref="IProgramHost.PumpLogs"/>).</summary>
    private void PumpLogs(Managed m) => _host.PumpLogs(m.Definition, m.SeparateStderr);

    /// <summary>A removed program: stop copying its output (what is waiting is still written).</summary>
    private void Forget(string name) => _host.Forget(name);

    private sealed class Managed(ProgramDefinition definition)
    {
        private readonly List<TaskCompletionSource<string>> _waiters = [];

        public string Name => Definition.Name;

        /// <summary>A deployed app ("@APP"): driven by the deploy runner, never by programs.conf or belay start/stop.</summary>
        public bool IsApp => AppPaths.IsUnit(Name);
        public ProgramDefinition Definition { get; set; } = definition;
        public ProgramState State { get; set; } = ProgramState.Stopped;
        public int Pid { get; set; }
        public long StartTime { get; set; }
        public DateTimeOffset? StartedAt { get; set; }
        public int Restarts { get; set; }
        public bool EverStarted { get; set; }
        public string? LastExit { get; set; }
        public List<DateTimeOffset> Failures { get; set; } = [];
        public DateTimeOffset? RestartAt { get; set; }
        public DateTimeOffset? KillAt { get; set; }
        public DateTimeOffset? GoneSince { get; set; }
        public bool StopRequested { get; set; }
        public bool OperatorStopped { get; set; }
        public bool PendingStart { get; set; }
        public bool Removed { get; set; }
        public bool Adopted { get; set; }

        /// <summary>Stopped by a stop of the service, not by the operator: the next agent's start starts it again.</summary>
        public bool ResumeWithService { get; set; }

        /// <summary>Whether the process (the running one, else the next to start) has its own stderr FIFO.</summary>
        public bool SeparateStderr { get; set; } = !definition.RedirectStderr;
        public int Generation { get; set; }

        public Task<string> AddWaiter()
        {
            var waiter = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add(waiter);
            return waiter.Task;
        }

        public void CompleteWaiters(string message)
        {
            foreach (var waiter in _waiters)
            {
                waiter.TrySetResult(message);
            }
            _waiters.Clear();
        }
    }
}
