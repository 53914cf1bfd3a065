using System.Collections;
using System.Diagnostics;
using System.Globalization;
using System.IO.Pipes;
using System.Runtime.Versioning;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.IO.Windows;
using Belay.Core.Programs;
using Belay.Core.Programs.Windows;
using Microsoft.Win32.SafeHandles;
using Serilog;

namespace Belay.Agent.Supervision;

/// <summary>
/// Programs on Windows: each runs in a Job Object of its own (<see cref="ProgramJobs"/>: kill-on-close, no
/// breakaway, so nothing it starts escapes its job and nothing outlives the handle the agent holds), with
/// stdout and stderr on named pipes whose read ends the agent copies into the same rotated NAME.log and
/// NAME.err.log as on Linux (one reader thread per pipe, <see cref="OverlappedPipeReader"/>; an unfinished last
/// line is held back as the <see cref="RotatingLog"/> says and written once it is <see cref="RotatingLog.PendingAge"/> old). A stop is
/// CTRL_BREAK to the program's console process group, or WM_CLOSE to its main windows, sent by a short-lived
/// helper (`belay-agent stop-request PID`, <see cref="StopRequest"/>) because sending a console event means
/// attaching to the program's console; the stop_timeout's end, or a stop that cannot be delivered, terminates
/// the job. The agent holds every job: when it exits (a service stop, or a crash) Windows closes the handles
/// and the jobs' kill-on-close ends the programs. An agent update is the exception (<see cref="HandOver"/>):
/// the keeper is given copies of the handles (<see cref="ProgramHandover"/>) and the next agent takes them back,
/// so the programs run on and their output waits in the pipes (docs/programs.md, "On Windows").
/// </summary>
[SupportedOSPlatform("windows")]
internal sealed class WindowsProgramHost : IProgramHost
{
    private static readonly TimeSpan StopRequestTimeout = TimeSpan.FromSeconds(15);

    private readonly ProgramPaths _paths;
    private readonly ILogger _log;
    private readonly string _agentExe;
    private readonly ProgramJobs _jobs = new(NativeWindowsProcessApi.Instance);
    private readonly int? _keeperPid;
    private readonly OwnerOnlyScope _secretScope;
    private readonly Lock _lock = new();
    private readonly Dictionary<int, Running> _running = [];
    private readonly Dictionary<string, SharedLog> _logs = new(StringComparer.OrdinalIgnoreCase);
    private readonly Timer _flusher;
    private int _pipes;

    public WindowsProgramHost(ProgramPaths paths, ILogger log, string agentExe, int? keeperPid, OwnerOnlyScope secretScope)
    {
        _secretScope = secretScope;
        _paths = paths;
        _log = log;
        _agentExe = agentExe;
        _keeperPid = keeperPid;
        var every = RotatingLog.PendingAge / 2;
        _flusher = new Timer(_ => FlushOldPending(), null, every, every);
        ReclaimHeld();
    }

    private string HeldFile => Path.Combine(_paths.StateDir, "held.json");

    /// <summary>Takes back the programs the agent before handed over to the keeper (<see cref="ProgramHandover"/>), before
    /// the supervisor looks for them: each runs on as this agent's, its pipes read from where the last agent stopped;
    /// one that ended meanwhile gets its exit record, which is how the supervisor learns its exit code.</summary>
    private void ReclaimHeld()
    {
        var file = HeldPrograms.TryLoad(HeldFile, out var problem);
        if (problem is not null)
        {
            _log.Error("{Problem}", problem);
            File.Delete(HeldFile);
        }
        if (file is null)
        {
            return;
        }
        var reclaimed = new ProgramHandover(_jobs).Reclaim(file, _keeperPid, () => File.Delete(HeldFile), w => _log.Warning("{Problem}", w));
        foreach (var (name, separateStderr, program) in reclaimed)
        {
            var defaults = new ProgramDefinition { Name = name, Command = ["(handed over)"] };
            var running = new Running(program, name, separateStderr);
            lock (_lock)
            {
                _running[program.Pid] = running;
            }
            if (program.Stdout != 0)
            {
                running.Output = Pump(name, program.Stdout, Log(defaults, _paths.Log(name)));
            }
            if (program.Stderr != 0)
            {
                running.Errors = Pump(name + " stderr", program.Stderr, Log(defaults, _paths.ErrLog(name)));
            }
            if (_jobs.ExitCode(program) is { } code)
            {
                RecordExit(running, code);
            }
            else
            {
                _ = RecordExitAsync(running);
            }
            _log.Information("took {Program} (pid {Pid}) back from the keeper", name, program.Pid);
        }
    }

    /// <summary>A taken-back program is not this agent's child: the supervisor checks it by pid and reads its exit from its exit record, as on Linux.</summary>
    private async Task RecordExitAsync(Running running)
    {
        var exit = await WaitAsync(running).ConfigureAwait(false);
        if (_jobs.ExitCode(running.Program) is { } code)
        {
            RecordExit(running, code);
        }
        else
        {
            _log.Warning("{Program} (pid {Pid}) ended ({Exit}) but its exit code cannot be read", running.Name, running.Program.Pid, exit.Description);
        }
    }

    private void RecordExit(Running running, uint code)
    {
        try
        {
            new ExitRecord { Pid = running.Program.Pid, Status = unchecked((int)code), At = DateTimeOffset.UtcNow }.Save(_paths.ExitRecord(running.Name));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Error("cannot record the exit of {Program} (pid {Pid}): {Error}", running.Name, running.Program.Pid, e.Message);
        }
    }

    /// <summary>
    /// An agent update: stop reading the pipes (what is unread stays in them), write out what was read, and put every
    /// program's job, process and pipes into the keeper, named in state/programs/held.json for the next agent. Without a
    /// keeper to hold them (an agent run by hand) the programs end with this agent, as before.
    /// </summary>
    public void HandOver()
    {
        List<Running> programs;
        lock (_lock)
        {
            programs = [.. _running.Values];
        }
        if (_keeperPid is not { } keeper)
        {
            _log.Warning("no keeper to hand {Count} program(s) over to (BELAY_KEEPER_PID is not set); they end with this agent", programs.Count);
            return;
        }
        var pumps = programs.SelectMany(r => (PipePump?[])[r.Output, r.Errors]).OfType<PipePump>().ToList();
        foreach (var pump in pumps)
        {
            pump.Reader.Stop();
        }
        foreach (var pump in pumps)
        {
            if (pump.Thread is { } thread && !thread.Join(TimeSpan.FromSeconds(5)))
            {
                _log.Warning("a log reader did not stop within 5 s; its program's output may be read twice");
            }
        }
        List<ReclaimedProgram> handed;
        lock (_lock)
        {
            handed = [.. programs.Select(r => new ReclaimedProgram(r.Name, r.SeparateStderr, r.Program with
            {
                Stdout = r.Output is { Closed: false } o ? o.Handle : 0,
                Stderr = r.Errors is { Closed: false } e ? e.Handle : 0,
            }))];
        }
        try
        {
            var held = new ProgramHandover(_jobs).Hold(keeper, handed, w => _log.Warning("{Problem}", w));
            held.Save(HeldFile);
            _log.Information("the keeper (pid {Pid}) holds {Count} program(s) for the next agent", keeper, held.Programs.Count);
        }
        catch (Exception e) when (e is WindowsCallException or IOException or UnauthorizedAccessException)
        {
            _log.Error("cannot hand the programs over to the keeper (pid {Pid}): {Error}; they end with this agent, and the next one starts them again", keeper, e.Message);
        }
    }

    public StartedProcess Start(ProgramDefinition d, bool separateStderr)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (d.Group is { } group)
        {
            throw new FatalSpawnException($"group = {group}: Windows has no primary group to set; remove group");
        }
        var variables = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            variables[(string)entry.Key] = (string?)entry.Value ?? "";
        }
        foreach (var variable in KeeperChannel.Variables)
        {
            variables.Remove(variable);
        }
        if (d.User is { } account)
        {
            // The account's own names; the rest (its profile's folders) stays the service's: no profile is loaded.
            variables["USERNAME"] = account[(account.LastIndexOf('\\') + 1)..];
        }
        foreach (var (key, value) in d.Environment)
        {
            variables[key] = value;
        }
        var start = new JobStart(WindowsCommandLine.Join(d.Command), Directory(d.Directory), ProgramJobs.EnvironmentBlock(variables), separateStderr);
        var pipeName = string.Create(CultureInfo.InvariantCulture, $"belay-{Environment.ProcessId}-{Interlocked.Increment(ref _pipes)}");
        var output = Log(d, _paths.Log(d.Name));
        var errors = separateStderr ? Log(d, _paths.ErrLog(d.Name)) : null;
        JobProgram program;
        try
        {
            program = d.User is { } user
                ? new ProgramLogon(NativeWindowsProcessApi.Instance).Start(_jobs, start, pipeName, user, d.PasswordFile,
                    path => ProgramLogon.ReadPassword(path, new OwnerOnlyAcl(new NativeFileSecurity()), _secretScope, SecretProtection.ForThisSystem(_secretScope)))
                : _jobs.Start(start, pipeName);
        }
        catch
        {
            Release(output);
            if (errors is not null)
            {
                Release(errors);
            }
            throw;
        }
        var running = new Running(program, d.Name, separateStderr);
        lock (_lock)
        {
            _running[program.Pid] = running;
        }
        running.Output = Pump(d.Name, program.Stdout, output);
        if (errors is not null)
        {
            running.Errors = Pump(d.Name + " stderr", program.Stderr, errors);
        }
        return new StartedProcess(program.Pid, program.CreationTime, WaitAsync(running));
    }

    /// <summary>The folder a program starts in: the definition's, with the default "/" read as the system drive's root.</summary>
    private static string Directory(string directory) =>
        directory is "/" or "\\" ? Path.GetPathRoot(Environment.SystemDirectory) ?? "C:\\" : directory;

    private async Task<ProgramExit> WaitAsync(Running running)
    {
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var handle = new ProcessWaitHandle(running.Program.Process);
        var registration = ThreadPool.RegisterWaitForSingleObject(handle, (_, _) => exited.TrySetResult(), null, Timeout.Infinite, executeOnlyOnce: true);
        try
        {
            await exited.Task.ConfigureAwait(false);
        }
        finally
        {
            registration.Unregister(null);
        }
        var code = _jobs.ExitCode(running.Program) ?? Win32.StillActive;
        return new ProgramExit(code == 0, Describe(code));
    }

    /// <summary>"exit 3"; an NTSTATUS (a crash, CTRL_C's 0xC000013A) in hex.</summary>
    internal static string Describe(uint code) =>
        code >= 0x80000000 ? string.Create(CultureInfo.InvariantCulture, $"exit 0x{code:X8}") : string.Create(CultureInfo.InvariantCulture, $"exit {code}");

    public Task<string?> RequestStopAsync(int pid, ProgramDefinition definition) => Task.Run(() => RequestStop(pid, definition));

    private string? RequestStop(int pid, ProgramDefinition definition)
    {
        var psi = new ProcessStartInfo(_agentExe)
        {
            UseShellExecute = false,
            CreateNoWindow = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add(StopRequestVerb);
        psi.ArgumentList.Add(pid.ToString(CultureInfo.InvariantCulture));
        try
        {
            using var helper = Process.Start(psi) ?? throw new InvalidOperationException("no process");
            var said = helper.StandardOutput.ReadToEndAsync();
            var errors = helper.StandardError.ReadToEndAsync();
            if (!helper.WaitForExit(StopRequestTimeout))
            {
                helper.Kill();
                return $"the stop request helper did not finish within {StopRequestTimeout.TotalSeconds:0} s";
            }
            var detail = (said.Result + errors.Result).Trim();
            if (helper.ExitCode == 0)
            {
                _log.Information("{Program} (pid {Pid}): {Detail}", definition.Name, pid, detail);
                return null;
            }
            return detail.Length > 0 ? detail : $"the stop request helper exited with {helper.ExitCode}";
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return $"cannot run {_agentExe} {StopRequestVerb}: {e.Message}";
        }
    }

    /// <summary>The agent's verb for the helper that delivers a stop request (see <see cref="StopRequest"/>).</summary>
    public const string StopRequestVerb = "stop-request";

    public void Kill(int pid)
    {
        if (Find(pid) is { } running)
        {
            Terminate(running);
        }
    }

    public void Ended(int pid)
    {
        Running? running;
        lock (_lock)
        {
            if (!_running.Remove(pid, out running))
            {
                return;
            }
        }
        // What the program started is still in its job: it goes with it.
        Terminate(running);
        try
        {
            _jobs.Close(running.Program);
        }
        catch (WindowsCallException e)
        {
            _log.Warning("cannot close the job of pid {Pid}: {Error}", pid, e.Message);
        }
    }

    private void Terminate(Running running)
    {
        try
        {
            _jobs.Terminate(running.Program);
        }
        catch (WindowsCallException e)
        {
            _log.Warning("cannot end the job of pid {Pid}: {Error}", running.Program.Pid, e.Message);
        }
    }

    /// <summary>Only a program this agent started runs: the jobs of an earlier agent's programs ended with it.</summary>
    public bool IsSameProcessAlive(int pid, long startTime) =>
        Find(pid) is { } running && running.Program.CreationTime == startTime && _jobs.ExitCode(running.Program) is null;

    public string DescribeExit(int status) => Describe(unchecked((uint)status));

    private Running? Find(int pid)
    {
        lock (_lock)
        {
            return _running.GetValueOrDefault(pid);
        }
    }

    public void PumpLogs(ProgramDefinition definition, bool separateStderr)
    {
        ArgumentNullException.ThrowIfNull(definition);
        lock (_lock)
        {
            foreach (var path in (string[])[_paths.Log(definition.Name), _paths.ErrLog(definition.Name)])
            {
                if (_logs.TryGetValue(path, out var log))
                {
                    lock (log)
                    {
                        log.Log.MaxBytes = definition.LogMaxBytes;
                        log.Log.Backups = definition.LogBackups;
                    }
                }
            }
        }
    }

    public void Forget(string name)
    {
        // The readers end when the pipes do (the program's end); each log closes with its last reader.
    }

    private SharedLog Log(ProgramDefinition d, string path)
    {
        lock (_lock)
        {
            if (!_logs.TryGetValue(path, out var log))
            {
                log = new SharedLog(new RotatingLog(path, d.LogMaxBytes, d.LogBackups));
                _logs[path] = log;
            }
            lock (log)
            {
                log.Log.MaxBytes = d.LogMaxBytes;
                log.Log.Backups = d.LogBackups;
                log.Readers++;
            }
            return log;
        }
    }

    /// <summary>Copies one pipe into its log on a thread of its own until the program and everything it started closed
    /// their ends (then the pipe is closed here), or until a hand-over stops it (then the pipe stays open for the keeper).</summary>
    private PipePump Pump(string name, nint readEnd, SharedLog log)
    {
        var pump = new PipePump(readEnd, new OverlappedPipeReader(readEnd));
        pump.Thread = new Thread(() => Copy(name, pump, log)) { IsBackground = true, Name = "log " + name };
        pump.Thread.Start();
        return pump;
    }

    private void Copy(string name, PipePump pump, SharedLog log)
    {
        var failing = false;
        var ended = false;
        try
        {
            ended = pump.Reader.Run(data =>
            {
                try
                {
                    lock (log)
                    {
                        log.Log.Write(data);
                    }
                    failing = false;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    if (!failing)
                    {
                        _log.Error("cannot write the log of {Program}: {Error}; its output is dropped until writing works again", name, e.Message);
                    }
                    failing = true;
                }
            });
        }
        catch (WindowsCallException e)
        {
            _log.Error("reading the output of {Program}: {Error}", name, e.Message);
            ended = true;
        }
        finally
        {
            if (ended)
            {
                lock (_lock)
                {
                    pump.Closed = true;
                    NativeWindowsProcessApi.Instance.CloseHandle(pump.Handle);
                }
            }
            Release(log);
        }
    }

    private void Release(SharedLog log)
    {
        lock (_lock)
        {
            lock (log)
            {
                if (--log.Readers > 0)
                {
                    return;
                }
                try
                {
                    log.Log.FlushPending();
                }
                catch (IOException)
                {
                }
                log.Log.Dispose();
            }
            foreach (var (path, open) in _logs.ToList())
            {
                if (open == log)
                {
                    _logs.Remove(path);
                }
            }
        }
    }

    private void FlushOldPending()
    {
        List<SharedLog> logs;
        lock (_lock)
        {
            logs = [.. _logs.Values];
        }
        var now = Environment.TickCount64;
        foreach (var log in logs)
        {
            lock (log)
            {
                if (log.Readers > 0 && log.Log.PendingSince is { } since && now - since >= (long)RotatingLog.PendingAge.TotalMilliseconds)
                {
                    try
                    {
                        log.Log.FlushPending();
                    }
                    catch (IOException)
                    {
                    }
                }
            }
        }
    }

    public void Dispose()
    {
        _flusher.Dispose();
        List<Running> left;
        lock (_lock)
        {
            left = [.. _running.Values];
            _running.Clear();
        }
        foreach (var running in left)
        {
            // Closing the last handle of a job ends what runs in it (kill-on-close), unless the keeper holds a copy (a hand-over).
            _jobs.Close(running.Program);
        }
    }

    private sealed class Running(JobProgram program, string name, bool separateStderr)
    {
        public JobProgram Program { get; } = program;
        public string Name { get; } = name;
        public bool SeparateStderr { get; } = separateStderr;
        public PipePump? Output { get; set; }
        public PipePump? Errors { get; set; }
    }

    /// <summary>One pipe's reader: the read end (closed by the reader once the pipe is done), the reader and its thread.</summary>
    private sealed class PipePump(nint handle, OverlappedPipeReader reader)
    {
        public nint Handle { get; } = handle;
        public OverlappedPipeReader Reader { get; } = reader;
        public Thread? Thread { get; set; }
        public bool Closed { get; set; }
    }

    private sealed class SharedLog(RotatingLog log)
    {
        public RotatingLog Log { get; } = log;
        public int Readers { get; set; }
    }

    /// <summary>A wait on a process handle this host owns (and closes itself).</summary>
    private sealed class ProcessWaitHandle : WaitHandle
    {
        public ProcessWaitHandle(nint process) => SafeWaitHandle = new SafeWaitHandle(process, ownsHandle: false);
    }
}
