using System.Diagnostics;
using System.Globalization;

namespace Belay.Bench;

/// <summary>The outcome of one command: exit code, output and how long it took.</summary>
internal sealed record CommandResult(int ExitCode, string StdOut, string StdErr, TimeSpan Elapsed)
{
    public bool Ok => ExitCode == 0;

    public override string ToString() => $"exit {ExitCode} after {Elapsed.TotalSeconds:F1} s\n{StdOut}\n{StdErr}".Trim();
}

/// <summary>
/// Runs the tools the bench drives (belay, belay-release, openssl, nginx, supervisord, curl).
/// Output is read to the end only for a short while after exit: `belay install` starts a
/// keeper that outlives it, and a keeper holding our pipe must not hang the bench.
/// </summary>
internal static class Shell
{
    public static CommandResult Run(string file, IEnumerable<string> args, IDictionary<string, string>? env = null,
        TimeSpan? timeout = null, string? cwd = null)
    {
        var watch = Stopwatch.StartNew();
        using var p = new Process { StartInfo = Info(file, args, env, cwd, redirect: true) };
        p.Start();
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var limit = timeout ?? TimeSpan.FromMinutes(5);
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            return new CommandResult(-1, Finish(stdout), Finish(stderr) + $"\n(killed after {limit.TotalSeconds:F0} s)", watch.Elapsed);
        }
        var elapsed = watch.Elapsed;
        return new CommandResult(p.ExitCode, Finish(stdout), Finish(stderr), elapsed);
    }

    /// <summary>Runs and throws with the output when the command fails: for set-up steps, not measurements.</summary>
    public static CommandResult Check(string file, IEnumerable<string> args, IDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        var result = Run(file, args, env, timeout);
        if (!result.Ok)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} failed: {result}");
        }
        return result;
    }

    /// <summary>Starts a long-running process with its output appended to <paramref name="logFile"/>.</summary>
    public static Process Start(string file, IEnumerable<string> args, string logFile, IDictionary<string, string>? env = null)
    {
        var p = new Process { StartInfo = Info(file, args, env, null, redirect: true) };
        var log = new StreamWriter(logFile, append: true) { AutoFlush = true };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>Sends a signal by number (kill -SIG PID); false when the process is gone.</summary>
    public static bool Signal(int pid, string signal) =>
        Run("kill", [$"-{signal}", pid.ToString(CultureInfo.InvariantCulture)], timeout: TimeSpan.FromSeconds(10)).Ok;

    /// <summary>Stops a process started by <see cref="Start"/>: TERM, then KILL after <paramref name="grace"/>.</summary>
    public static void Stop(Process p, TimeSpan grace)
    {
        try
        {
            if (p.HasExited)
            {
                return;
            }
            Signal(p.Id, "TERM");
            if (!p.WaitForExit(grace))
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit(5_000);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    public static string? Which(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin").Append("/sbin"))
        {
            var path = Path.Combine(dir, name);
            if (dir.Length > 0 && File.Exists(path))
            {
                return path;
            }
        }
        return null;
    }

    /// <summary>The first line a tool prints for its version, or "(not installed)".</summary>
    public static string VersionOf(string file, params string[] args)
    {
        if (Which(file) is not { } path)
        {
            return "(not installed)";
        }
        var r = Run(path, args, timeout: TimeSpan.FromSeconds(20));
        var text = (r.StdOut + "\n" + r.StdErr).Trim();
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim() ?? "(unknown)";
    }

    private static ProcessStartInfo Info(string file, IEnumerable<string> args, IDictionary<string, string>? env, string? cwd, bool redirect)
    {
        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardOutput = redirect,
            RedirectStandardError = redirect,
            RedirectStandardInput = redirect,
        };
        if (cwd is not null)
        {
            psi.WorkingDirectory = cwd;
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        if (env is not null)
        {
            foreach (var (k, v) in env)
            {
                psi.Environment[k] = v;
            }
        }
        return psi;
    }

    private static string Finish(Task<string> read) => read.Wait(TimeSpan.FromSeconds(2)) ? read.Result : "(output still held open by a child)";
}
