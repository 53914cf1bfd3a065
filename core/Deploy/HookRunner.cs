using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using System.Text;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Programs;

namespace Belay.Core.Deploy;

/// <summary>
/// Runs an app's hooks (and health commands) the way the supervisor starts programs: through
/// the agent's exec helper (<c>belay-agent exec --stderr-to-stdout --dir D [--user U] -- HOOK</c>),
/// so that each hook leads its own session and process group, runs as the app's user, and has
/// /dev/null on stdin. stdout and stderr share one pipe, read line by line: each line has every
/// secret value replaced by *** before it reaches the deploy log or the kept tail (the last 4 KiB).
/// At the timeout the hook's whole process group gets SIGKILL; when the hook exits, whatever it
/// left in its group gets SIGKILL too, so no hook outlives its step.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class HookRunner(string agentExe, IDeployLog log, TimeProvider clock) : IHookRunner
{
    /// <summary>Secret values shorter than this are not redacted (they would garble every line; such a secret protects nothing).</summary>
    public const int MinRedactedLength = 4;

    /// <summary>How long the output is read after the hook's group is gone.</summary>
    private static readonly TimeSpan DrainWait = TimeSpan.FromSeconds(2);

    public async Task<HookResult> RunAsync(HookRun run, Action<int, long>? started, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        var psi = AgentExec.StartInfo(agentExe, ["--stderr-to-stdout", "--dir", run.Directory], run.User, run.Group, run.Command, run.Environment);
        psi.RedirectStandardOutput = true;
        var redact = run.Redact.Where(v => v.Length >= MinRedactedLength).OrderByDescending(v => v.Length).ToArray();
        var shown = Redact(string.Join(' ', run.Command), redact);
        if (run.Log)
        {
            log.Write(run.App, $"{run.Step}: {shown} (as {run.User ?? "the agent's user"}, timeout {Seconds(run.Timeout)})", false);
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
            var tail = new StringBuilder();
            var reading = ReadAsync(process.StandardOutput.BaseStream, run, redact, tail);
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
            string output;
            lock (tail)
            {
                output = OutputTail.Keep(tail.ToString());
            }
            if (run.Log)
            {
                log.Write(run.App, timedOut
                    ? $"{run.Step}: did not finish within {Seconds(run.Timeout)}; killed its process group"
                    : $"{run.Step}: exited with code {code} after {Seconds(duration)}", code != 0 || timedOut);
            }
            return new HookResult(code, timedOut, output, duration);
        }
    }

    private async Task ReadAsync(Stream stream, HookRun run, string[] redact, StringBuilder tail)
    {
        var buffer = new byte[16 * 1024];
        var line = new MemoryStream();
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                var start = 0;
                for (var i = 0; i < n; i++)
                {
                    if (buffer[i] == (byte)'\n' || line.Length + (i - start) >= 64 * 1024)
                    {
                        line.Write(buffer, start, i - start + 1);
                        Emit(line, run, redact, tail);
                        start = i + 1;
                    }
                }
                line.Write(buffer, start, n - start);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
        if (line.Length > 0)
        {
            line.WriteByte((byte)'\n');
            Emit(line, run, redact, tail);
        }
    }

    private void Emit(MemoryStream line, HookRun run, string[] redact, StringBuilder tail)
    {
        var text = Redact(Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length), redact);
        line.SetLength(0);
        if (run.Log)
        {
            log.Output(run.App, text);
        }
        lock (tail)
        {
            tail.Append(text);
            if (tail.Length > 4 * OutputTail.MaxBytes)
            {
                tail.Remove(0, tail.Length - OutputTail.MaxBytes);
            }
        }
    }

    /// <summary><paramref name="text"/> with every value of <paramref name="secrets"/> (longest first) replaced by ***.</summary>
    public static string Redact(string text, IReadOnlyList<string> secrets)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(secrets);
        foreach (var secret in secrets.OrderByDescending(s => s.Length))
        {
            if (secret.Length >= MinRedactedLength)
            {
                text = text.Replace(secret, Programs.Secrets.Mask, StringComparison.Ordinal);
            }
        }
        return text;
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
}
