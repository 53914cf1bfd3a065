using System.Diagnostics;
using System.Text;
using Belay.Core.IO;

namespace Belay.Core.Services;

/// <summary>What a command printed and how it ended.</summary>
public sealed record ProcessResult(int ExitCode, string StdOut, string StdErr)
{
    /// <summary>stdout and stderr, trimmed, for an error message.</summary>
    public string Output => (StdErr.Trim() + "\n" + StdOut.Trim()).Trim();
}

/// <summary>
/// Runs the platform's service tools (systemctl, launchctl, svccfg, ...). The one seam
/// the backends' tests replace with a fake that records the command lines and answers
/// as the real tool would.
/// </summary>
public interface IProcessRunner
{
    /// <summary>Runs <paramref name="command"/> (the executable first, then its arguments, no shell) and waits for it.</summary>
    /// <exception cref="BelayException">The executable could not be started (not installed), or it ran past the timeout.</exception>
    ProcessResult Run(IReadOnlyList<string> command, TimeSpan? timeout = null);
}

/// <summary>Runs commands for real: no shell, output captured, a timeout (default 2 minutes) after which the command is killed.</summary>
public sealed class SystemProcessRunner : IProcessRunner
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(2);

    public static SystemProcessRunner Instance { get; } = new();

    public ProcessResult Run(IReadOnlyList<string> command, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Count == 0)
        {
            throw new ArgumentException("no command", nameof(command));
        }
        var psi = new ProcessStartInfo(command[0])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var arg in command.Skip(1))
        {
            psi.ArgumentList.Add(arg);
        }
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new BelayException($"could not start {command[0]}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new BelayException($"could not run {command[0]}: {SystemErrors.Describe(e)}; is it installed and on PATH?", e);
        }
        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            var limit = timeout ?? DefaultTimeout;
            if (!process.WaitForExit(limit))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                throw new BelayException($"{Describe(command)} did not finish within {limit.TotalSeconds:0} s; it was stopped");
            }
            process.WaitForExit();
            return new ProcessResult(process.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
        }
    }

    /// <summary>A command line as a user would type it, for messages.</summary>
    public static string Describe(IReadOnlyList<string> command) =>
        string.Join(' ', command.Select(a => a.Length > 0 && a.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=@%+,".Contains(c)) ? a : "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));
}
