namespace Belay.Core.Programs.Windows;

/// <summary>A program as this process holds it on Windows: its job, its process, the read ends of its output pipes (zero when absent).</summary>
public sealed record JobProgram(int Pid, long CreationTime, nint Job, nint Process, nint Stdout, nint Stderr)
{
    /// <summary>False when this process runs in a job that denies breakaway: the program is in that job too, and ends with it.</summary>
    public bool BrokeAway { get; init; } = true;
}

/// <summary>
/// The copies of a program's handles that a holder process (the keeper) keeps for the agents, as their
/// values in the holder: the next agent duplicates them back (<see cref="ProgramJobs.Reclaim"/>).
/// </summary>
public sealed record HeldHandles(long Job, long Process, long Stdout, long Stderr);

/// <summary>How to start one program: its command line, folder, environment block, where stderr goes, and whose token (0: this process's).</summary>
public sealed record JobStart(string CommandLine, string Directory, string EnvironmentBlock, bool SeparateStderr, nint Token = 0, string? Desktop = null);

/// <summary>
/// Starting, holding and ending programs on Windows (docs/architecture.md, "Supervised programs on
/// Windows"), as call sequences over <see cref="IWindowsProcessApi"/>:
/// <list type="bullet">
/// <item><b>Start</b>: a job of its own (kill-on-close; breakaway not allowed, so nothing the program
///   starts leaves it), an inbound pipe for stdout and one for stderr (or one for both), NUL on stdin;
///   the process is created suspended, in a new process group (CTRL_BREAK reaches it and its children,
///   not the agent), with a console of its own and no window, broken away from the agent's job (the
///   keeper kills that one when the agent's run ends), assigned to its job and only then resumed, so
///   that it cannot start anything outside the job. It inherits exactly its three handles.</item>
/// <item><b>Hold</b>: copies of the job, the process and the pipes' read ends go into the keeper, which
///   holds them across agent updates: the job is not closed (kill-on-close) when an agent exits, the
///   exit code stays readable, and the pipes keep a reader, so a program neither dies nor gets
///   ERROR_NO_DATA while no agent runs. When the keeper's process ends (its service stops) its handles
///   close, and every program's job with them.</item>
/// <item><b>Reclaim</b>: the next agent duplicates them back and checks that the process is the one its
///   state file names (pid and creation time).</item>
/// </list>
/// Hazard: handle values are only meaningful in the holder that made them; the state file names the
/// holder by pid and creation time, and a record of another holder is not reclaimed.
/// </summary>
public sealed class ProgramJobs(IWindowsProcessApi api)
{
    /// <summary>Each pipe's buffer: as on Linux, a program blocks only once this much is unread.</summary>
    public const uint PipeBuffer = 64 * 1024;

    /// <summary>The exit code of a program (and what it left) ended by its job's termination.</summary>
    public const uint TerminatedExitCode = 1;

    private const uint Flags = Win32.CreateSuspended | Win32.CreateNewProcessGroup | Win32.CreateNoWindow;

    /// <summary>Starts a program as the type says; <paramref name="pipeName"/> is a unique base for its pipes' names.</summary>
    public JobProgram Start(JobStart start, string pipeName)
    {
        ArgumentNullException.ThrowIfNull(start);
        var opened = new List<nint>();
        nint job = 0, outRead = 0, errRead = 0;
        try
        {
            job = api.CreateJob();
            api.SetJobLimits(job, Win32.JobLimitKillOnJobClose);
            outRead = api.CreateInboundPipe(pipeName + "-out", PipeBuffer);
            var outWrite = api.OpenPipeForWriting(pipeName + "-out");
            opened.Add(outWrite);
            var errWrite = outWrite;
            if (start.SeparateStderr)
            {
                errRead = api.CreateInboundPipe(pipeName + "-err", PipeBuffer);
                errWrite = api.OpenPipeForWriting(pipeName + "-err");
                opened.Add(errWrite);
            }
            var nul = api.OpenNul();
            opened.Add(nul);
            var brokeAway = true;
            CreatedProcess created;
            try
            {
                created = api.CreateProcess(start.CommandLine, Flags | Win32.CreateBreakawayFromJob, start.EnvironmentBlock, start.Directory, nul, outWrite, errWrite,
                    start.Token, start.Desktop);
            }
            catch (WindowsCallException e) when (e.Error == Win32.ErrorAccessDenied)
            {
                // This process is in a job that denies breakaway (not the keeper's): the program can only start inside it.
                created = api.CreateProcess(start.CommandLine, Flags, start.EnvironmentBlock, start.Directory, nul, outWrite, errWrite, start.Token, start.Desktop);
                brokeAway = false;
            }
            StartInJob(api, job, created);
            var program = new JobProgram(created.ProcessId, api.CreationTime(created.Process), job, created.Process, outRead, errRead) { BrokeAway = brokeAway };
            job = outRead = errRead = 0;
            return program;
        }
        finally
        {
            foreach (var handle in opened)
            {
                api.CloseHandle(handle);
            }
            foreach (var handle in (ReadOnlySpan<nint>)[errRead, outRead, job])
            {
                if (handle != 0)
                {
                    api.CloseHandle(handle);
                }
            }
        }
    }

    /// <summary>The exit code, or null while the program runs.</summary>
    public uint? ExitCode(JobProgram program)
    {
        ArgumentNullException.ThrowIfNull(program);
        var code = api.ExitCode(program.Process);
        return code == Win32.StillActive ? null : code;
    }

    /// <summary>Ends the program and everything in its job.</summary>
    public void Terminate(JobProgram program)
    {
        ArgumentNullException.ThrowIfNull(program);
        api.TerminateJob(program.Job, TerminatedExitCode);
    }

    /// <summary>Closes this process's job and process handles (the job's kill-on-close ends what is left in it unless
    /// the keeper holds a copy). The pipes' read ends belong to whoever reads them.</summary>
    public void Close(JobProgram program)
    {
        ArgumentNullException.ThrowIfNull(program);
        api.CloseHandle(program.Process);
        api.CloseHandle(program.Job);
    }

    /// <summary>Opens the holder (the keeper) to put handles into it and take them back; checks that it is the
    /// process started at <paramref name="creationTime"/> when that is given.</summary>
    public nint OpenHolder(int pid, long? creationTime)
    {
        var holder = api.OpenProcess(Win32.ProcessDupHandle | Win32.ProcessQueryLimitedInformation | Win32.Synchronize, pid);
        try
        {
            if (creationTime is { } expected && api.CreationTime(holder) != expected)
            {
                throw new WindowsCallException("OpenProcess", Win32.ErrorInvalidHandle, $"pid {pid} is another process than the keeper that holds the programs");
            }
            return holder;
        }
        catch
        {
            api.CloseHandle(holder);
            throw;
        }
    }

    /// <summary>Lets go of a holder opened by <see cref="OpenHolder"/> (the handles put into it stay there).</summary>
    public void CloseHolder(nint holder) => api.CloseHandle(holder);

    /// <summary>The holder's creation time (recorded with the handles it holds).</summary>
    public long CreationTime(nint process) => api.CreationTime(process);

    /// <summary>Puts copies of the program's job, process and pipes into <paramref name="holder"/>; all or none.</summary>
    public HeldHandles Hold(nint holder, JobProgram program)
    {
        ArgumentNullException.ThrowIfNull(program);
        var copies = new List<long>();
        try
        {
            foreach (var handle in (ReadOnlySpan<nint>)[program.Job, program.Process, program.Stdout, program.Stderr])
            {
                copies.Add(handle == 0 ? 0 : api.DuplicateHandle(api.CurrentProcess, handle, holder, closeSource: false));
            }
            return new HeldHandles(copies[0], copies[1], copies[2], copies[3]);
        }
        catch
        {
            Release(holder, copies);
            throw;
        }
    }

    /// <summary>Copies of the held handles in this process, checked to be the program <paramref name="pid"/> started at
    /// <paramref name="creationTime"/>; the holder keeps its own.</summary>
    public JobProgram Reclaim(nint holder, HeldHandles held, int pid, long creationTime)
    {
        ArgumentNullException.ThrowIfNull(held);
        var copies = new List<nint>();
        try
        {
            foreach (var value in (ReadOnlySpan<long>)[held.Job, held.Process, held.Stdout, held.Stderr])
            {
                copies.Add(value == 0 ? 0 : api.DuplicateHandle(holder, (nint)value, api.CurrentProcess, closeSource: false));
            }
            if (copies[0] == 0 || copies[1] == 0 || api.ProcessId(copies[1]) != pid || api.CreationTime(copies[1]) != creationTime)
            {
                throw new WindowsCallException("DuplicateHandle", Win32.ErrorInvalidHandle, $"the keeper's handles are not those of pid {pid}");
            }
            return new JobProgram(pid, creationTime, copies[0], copies[1], copies[2], copies[3]);
        }
        catch
        {
            foreach (var copy in copies)
            {
                if (copy != 0)
                {
                    api.CloseHandle(copy);
                }
            }
            throw;
        }
    }

    /// <summary>Closes the holder's copies (the program ended, or is no longer supervised). Failures are ignored: a copy
    /// that is already gone is what this wants.</summary>
    public void Release(nint holder, HeldHandles held)
    {
        ArgumentNullException.ThrowIfNull(held);
        Release(holder, [held.Job, held.Process, held.Stdout, held.Stderr]);
    }

    private void Release(nint holder, List<long> values)
    {
        foreach (var value in values)
        {
            if (value == 0)
            {
                continue;
            }
            try
            {
                api.DuplicateHandle(holder, (nint)value, 0, closeSource: true);
            }
            catch (WindowsCallException)
            {
            }
        }
    }

    /// <summary>Starts the keeper's agent: in a job of its own that kills everything in it when the keeper closes it (and
    /// allows the breakaway the agent's programs need), suspended until it is in the job; output to <paramref name="logFile"/>.</summary>
    public JobProgram StartAgent(string commandLine, string directory, string environmentBlock, string logFile)
    {
        var job = api.CreateJob();
        var opened = new List<nint>();
        try
        {
            api.SetJobLimits(job, Win32.JobLimitKillOnJobClose | Win32.JobLimitBreakawayOk);
            var nul = api.OpenNul();
            opened.Add(nul);
            var log = api.OpenForAppend(logFile);
            opened.Add(log);
            var created = api.CreateProcess(commandLine, Win32.CreateSuspended | Win32.CreateNoWindow, environmentBlock, directory, nul, log, log, 0, null);
            StartInJob(api, job, created);
            var agent = new JobProgram(created.ProcessId, api.CreationTime(created.Process), job, created.Process, 0, 0);
            job = 0;
            return agent;
        }
        finally
        {
            foreach (var handle in opened)
            {
                api.CloseHandle(handle);
            }
            if (job != 0)
            {
                api.CloseHandle(job);
            }
        }
    }

    /// <summary>A Windows environment block: NAME=VALUE entries sorted by name (case-insensitively, as Windows keeps them), each and the block ending in NUL.</summary>
    public static string EnvironmentBlock(IEnumerable<KeyValuePair<string, string>> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var merged = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in variables)
        {
            if (key.Length == 0 || key.Contains('=', StringComparison.Ordinal) || key.Contains('\0', StringComparison.Ordinal) || value.Contains('\0', StringComparison.Ordinal))
            {
                throw new ArgumentException($"the environment variable '{key}' cannot be passed on Windows (a name with '=' or a NUL)", nameof(variables));
            }
            merged[key] = value;
        }
        var block = new System.Text.StringBuilder();
        foreach (var (key, value) in merged.OrderBy(e => e.Key.ToUpperInvariant(), StringComparer.Ordinal))
        {
            block.Append(key).Append('=').Append(value).Append('\0');
        }
        return block.Append('\0').ToString();
    }

    /// <summary>Puts a process created suspended into <paramref name="job"/> and lets it run; on failure it is terminated and its handle closed. The thread handle is closed either way.</summary>
    private static void StartInJob(IWindowsProcessApi api, nint job, CreatedProcess created)
    {
        try
        {
            api.AssignToJob(job, created.Process);
            api.ResumeThread(created.Thread);
        }
        catch
        {
            api.TerminateProcess(created.Process, TerminatedExitCode);
            api.CloseHandle(created.Process);
            throw;
        }
        finally
        {
            api.CloseHandle(created.Thread);
        }
    }
}
