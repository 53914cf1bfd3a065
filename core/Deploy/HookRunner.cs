using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.Versioning;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Programs;

namespace Belay.Core.Deploy;

/// <summary>
/// Runs an app's hooks (and health commands) the way the supervisor starts programs: through
/// the agent's exec helper (<c>belay-agent exec --stderr-to-stdout --dir D [--user U] -- HOOK</c>),
/// so that each hook leads its own session and process group, runs as the app's user, and has
/// /dev/null on stdin (the helper first waits for a go on it, sent once the hook's pid is recorded). stdout and stderr share one pipe, read line by line: each line has every
/// secret value replaced by *** before it reaches the deploy log or the kept tail (the last 4 KiB).
/// At the timeout the hook's whole process group gets SIGKILL; when the hook exits, whatever it
/// left in its group gets SIGKILL too, so no hook outlives its step.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class HookRunner(string agentExe, IDeployLog log, TimeProvider clock) : IHookRunner
{
    /// <summary>How long the output is read after the hook's group is gone.</summary>
    private static readonly TimeSpan DrainWait = TimeSpan.FromSeconds(2);

    public async Task<HookResult> RunAsync(HookRun run, Action<int, long>? started, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        // The helper waits for the go, sent once the pid is recorded (started): a hook never runs unrecorded.
        var psi = AgentExec.StartInfo(agentExe, [AgentExec.GoOnStdin, "--stderr-to-stdout", "--dir", run.Directory], run.User, run.Group, run.Command, run.Environment);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardInput = true;
        var output = new HookOutput(log, run);
        var shown = output.Shown;
        if (run.Log)
        {
            log.Write(run.App, $"{run.Step}: {shown} (as {run.User ?? "the agent's user"}, timeout {HookOutput.Seconds(run.Timeout)})", false);
        }
        var begin = clock.GetUtcNow();
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException or IOException)
        {
            return new HookResult(null, false, "", TimeSpan.Zero, $"cannot start {shown}: {e.Message}");
        }
        using (process)
        {
            var pid = process.Id;
            started?.Invoke(pid, PosixProcess.StartTime(pid));
            AgentExec.Go(process);
            var reading = ReadAsync(process.StandardOutput.BaseStream, output);
            var timedOut = false;
            using var timeout = new CancellationTokenSource(run.Timeout, clock);
            using var either = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
            try
            {
                await process.WaitForExitAsync(either.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                PosixProcess.SignalGroup(pid, PosixProcess.SigKill);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                if (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }
                timedOut = true;
            }
            // Whatever the hook left in its group (a background child) goes with it.
            PosixProcess.SignalGroup(pid, PosixProcess.SigKill);
            await Task.WhenAny(reading, Task.Delay(DrainWait, clock, CancellationToken.None)).ConfigureAwait(false);
            var code = process.ExitCode;
            var duration = clock.GetUtcNow() - begin;
            if (run.Log)
            {
                log.Write(run.App, timedOut
                    ? $"{run.Step}: did not finish within {HookOutput.Seconds(run.Timeout)}; killed its process group"
                    : $"{run.Step}: exited with code {code} after {HookOutput.Seconds(duration)}", code != 0 || timedOut);
            }
            return new HookResult(code, timedOut, output.Tail(), duration);
        }
    }

    private static async Task ReadAsync(Stream stream, HookOutput output)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                output.Write(buffer.AsSpan(0, n));
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
        output.Finish();
    }
}
