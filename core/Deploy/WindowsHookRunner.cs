using System.Collections;
using System.Globalization;
using Belay.Core.Install;
using Belay.Core.Programs;
using Belay.Core.Programs.Windows;

namespace Belay.Core.Deploy;

/// <summary>The waits and reads a hook needs on Windows beside the Win32 calls of <see cref="IWindowsProcessApi"/> (the native one is <see cref="NativeHookIo"/>).</summary>
public interface IHookProcessIo
{
    /// <summary>Completes when the process ends (WaitForSingleObject on its handle, without blocking a thread).</summary>
    Task WaitForExitAsync(nint process);

    /// <summary>Reads the read end of a pipe on a thread of its own, handing each read to <paramref name="onData"/>, until every
    /// writer is gone or the reading is stopped. The caller closes the pipe once <see cref="HookPipeReading.Done"/> completed.</summary>
    HookPipeReading Read(nint pipe, HookData onData);
}

/// <summary>The bytes of one read (valid only during the call).</summary>
public delegate void HookData(ReadOnlySpan<byte> data);

/// <summary>A pipe being read: <see cref="Done"/> completes when the reading ended; <see cref="Stop"/> cancels the read in flight.</summary>
public sealed record HookPipeReading(Task Done, Action Stop);

/// <summary>
/// Runs an app's hooks (and health commands) on Windows with the contract of <see cref="HookRunner"/>: each hook in a Job
/// Object of its own (<see cref="ProgramJobs.Start"/>: kill-on-close, breakaway denied, created suspended and resumed only
/// once in its job, in a new process group without a window), NUL on stdin, stdout and stderr on one pipe read line by
/// line with every secret redacted (<see cref="HookOutput"/>), from the release's folder, with the agent's environment
/// (without the keeper's variables) and the hook's own. At the timeout the job is terminated (TerminateJobObject), and
/// when the hook exits whatever it left in its job goes with it. The job handle is the agent's only: should the agent's
/// process end, Windows closes it and the job's kill-on-close ends the hook. How a file runs: <see cref="WindowsHookCommand"/>.
/// A hook with <c>user</c> runs as that account where the service may (<see cref="ProgramLogon"/>: LocalService or
/// NetworkService; an app has no password file); <c>group</c> has no meaning on Windows and is refused.
/// </summary>
public sealed class WindowsHookRunner(IWindowsProcessApi api, IHookProcessIo io, IDeployLog log, TimeProvider clock) : IHookRunner
{
    /// <summary>How long the output is read after the hook's job is gone.</summary>
    private static readonly TimeSpan DrainWait = TimeSpan.FromSeconds(2);

    private static int _pipes;

    /// <summary>Where cmd.exe and WindowsPowerShell are; the system's own System32 unless set.</summary>
    public string SystemDirectory { get; init; } = System.Environment.SystemDirectory;

    /// <summary>The variables a hook starts from (the agent's own, by default).</summary>
    public IDictionary BaseEnvironment { get; init; } = System.Environment.GetEnvironmentVariables();

    public async Task<HookResult> RunAsync(HookRun run, Action<int, long>? started, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        var output = new HookOutput(log, run);
        var shown = output.Shown;
        if (run.Log)
        {
            log.Write(run.App, $"{run.Step}: {shown} (as {run.User ?? "the agent's user"}, timeout {HookOutput.Seconds(run.Timeout)})", false);
        }
        var begin = clock.GetUtcNow();
        var jobs = new ProgramJobs(api);
        JobProgram program;
        try
        {
            if (run.Group is { } group)
            {
                throw new FatalSpawnException($"group = {group}: Windows has no primary group to set; remove group from app.conf");
            }
            var start = new JobStart(WindowsHookCommand.CommandLine(run.Command, SystemDirectory), run.Directory.Replace('/', '\\'), EnvironmentBlock(run), SeparateStderr: false);
            var pipeName = string.Create(CultureInfo.InvariantCulture, $"belay-hook-{System.Environment.ProcessId}-{Interlocked.Increment(ref _pipes)}");
            program = run.User is { } user
                ? new ProgramLogon(api).Start(jobs, start, pipeName, user, passwordFile: null,
                    _ => throw new FatalSpawnException($"user = {user}: an app's hooks run as another account only when it needs no password (LocalService, NetworkService)"))
                : jobs.Start(start, pipeName);
        }
        catch (Exception e) when (e is ArgumentException or WindowsCallException or FatalSpawnException)
        {
            var error = $"cannot start {shown}: {e.Message}";
            if (run.Log)
            {
                log.Write(run.App, $"{run.Step}: {error}", true);
            }
            return new HookResult(null, false, "", TimeSpan.Zero, error);
        }
        var reading = io.Read(program.Stdout, output.Write);
        try
        {
            started?.Invoke(program.Pid, program.CreationTime);
            var timedOut = false;
            var exited = io.WaitForExitAsync(program.Process);
            using (var timeout = new CancellationTokenSource(run.Timeout, clock))
            using (var either = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken))
            {
                var limit = Task.Delay(Timeout.InfiniteTimeSpan, either.Token);
                if (await Task.WhenAny(exited, limit).ConfigureAwait(false) != exited)
                {
                    jobs.Terminate(program);
                    await exited.ConfigureAwait(false);
                    cancellationToken.ThrowIfCancellationRequested();
                    timedOut = true;
                }
            }
            // Whatever the hook left in its job (a background child) goes with it.
            try
            {
                jobs.Terminate(program);
            }
            catch (WindowsCallException e)
            {
                log.Write(run.App, $"{run.Step}: cannot end what the hook left in its job: {e.Message}; closing the job ends it", true);
            }
            if (await Task.WhenAny(reading.Done, Task.Delay(DrainWait, clock, CancellationToken.None)).ConfigureAwait(false) != reading.Done)
            {
                reading.Stop();
            }
            await reading.Done.ConfigureAwait(false);
            output.Finish();
            var code = unchecked((int)(jobs.ExitCode(program) ?? ProgramJobs.TerminatedExitCode));
            var duration = clock.GetUtcNow() - begin;
            if (run.Log)
            {
                log.Write(run.App, timedOut
                    ? $"{run.Step}: did not finish within {HookOutput.Seconds(run.Timeout)}; terminated its job"
                    : $"{run.Step}: exited with code {code} after {HookOutput.Seconds(duration)}", code != 0 || timedOut);
            }
            return new HookResult(code, timedOut, output.Tail(), duration);
        }
        catch (OperationCanceledException)
        {
            // The agent is stopping: the job is already terminated; the reading ends with its writers.
            reading.Stop();
            await reading.Done.ConfigureAwait(false);
            throw;
        }
        finally
        {
            api.CloseHandle(program.Stdout);
            jobs.Close(program);
        }
    }

    /// <summary>The agent's variables without the keeper's channel, USERNAME of the account it runs as, then the hook's own (Windows names ignore case).</summary>
    private string EnvironmentBlock(HookRun run)
    {
        var variables = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry entry in BaseEnvironment)
        {
            variables[(string)entry.Key] = (string?)entry.Value ?? "";
        }
        foreach (var variable in KeeperChannel.Variables)
        {
            variables.Remove(variable);
        }
        if (run.User is { } account)
        {
            variables["USERNAME"] = account[(account.LastIndexOf('\\') + 1)..];
        }
        foreach (var (key, value) in run.Environment)
        {
            variables[key] = value;
        }
        return ProgramJobs.EnvironmentBlock(variables);
    }
}
