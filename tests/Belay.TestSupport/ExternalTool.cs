using System.Diagnostics;
using Xunit;
using System.Text;

namespace Belay.TestSupport;

/// <summary>
/// Finds the real tools the tests run against (minisign, nginx, ...). A test that needs a
/// missing tool is skipped with a loud reason, or fails when BELAY_REQUIRE_TOOLS=1 (CI sets
/// it: there a missing tool is a broken set-up, never a reason to test less).
/// </summary>
public static class ExternalTool
{
    public static bool ToolsRequired =>
        Environment.GetEnvironmentVariable("BELAY_REQUIRE_TOOLS") is "1" or "true";

    /// <summary>The full path of <paramref name="name"/> on PATH (or in sbin), or null.</summary>
    public static string? Find(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        var dirs = path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin", "/usr/local/sbin"]);
        foreach (var dir in dirs)
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>The tool's path; skips the test (or fails it in CI) when it is not installed.</summary>
    public static string Require(string name, string debianPackage)
    {
        var found = Find(name);
        if (found is not null)
        {
            return found;
        }
        var reason = $"SKIPPED LOUDLY: '{name}' is not installed; install it with 'apt-get install {debianPackage}' (./build.sh test does this when run as root).";
        if (ToolsRequired)
        {
            Assert.Fail(reason + " BELAY_REQUIRE_TOOLS=1, so this is a failure.");
        }
        Assert.Skip(reason);
        return null!;
    }

    /// <summary>True if the process runs (a zombie left to an init that does not reap does not count).</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Runs a process to completion and captures its output.</summary>
    public static ToolResult Run(string fileName, IEnumerable<string> args, string? stdin = null,
        string? workingDirectory = null, IDictionary<string, string?>? environment = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                if (v is null)
                {
                    psi.Environment.Remove(k);
                }
                else
                {
                    psi.Environment[k] = v;
                }
            }
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {fileName}");
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
        }
        p.StandardInput.Close();
        var limit = timeout ?? TimeSpan.FromMinutes(2);
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', psi.ArgumentList)} did not finish within {limit}");
        }
        p.WaitForExit();
        return new ToolResult(p.ExitCode, stdout.ToString(), stderr.ToString());
    }
}

public sealed record ToolResult(int ExitCode, string StdOut, string StdErr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{StdOut}--- stderr\n{StdErr}";
}
