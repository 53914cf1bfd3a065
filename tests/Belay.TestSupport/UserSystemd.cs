using System.Diagnostics;
using Xunit;

namespace Belay.TestSupport;

/// <summary>
/// A real systemd for end-to-end tests, without it being PID 1: <c>systemd --user</c> in a
/// private mount namespace (tmpfs on /run/systemd with /run/systemd/system in it, so that it
/// and belay see a systemd host; tmpfs on /run/user for its runtime folder) with its own HOME,
/// so the units it loads are the ones the test writes under that HOME. Commands run inside
/// the namespace through nsenter. Needs root (mount namespaces), unshare and nsenter
/// (util-linux) and systemd; disposal stops the manager, and with it every unit it started.
/// </summary>
public sealed class UserSystemd : IDisposable
{
    private const string RuntimeDir = "/run/user/0";
    private readonly Process _process;

    private UserSystemd(Process process, string home)
    {
        _process = process;
        Home = home;
    }

    /// <summary>The manager's PID (systemd itself: unshare execs in place).</summary>
    public int Pid => _process.Id;

    /// <summary>HOME of the manager and of every command run here: user units live in HOME/.config/systemd/user.</summary>
    public string Home { get; }

    public string UnitDirectory => Path.Combine(Home, ".config", "systemd", "user");

    public static UserSystemd Start(string home)
    {
        var systemd = new[] { "/lib/systemd/systemd", "/usr/lib/systemd/systemd" }.FirstOrDefault(File.Exists);
        ExternalTool.Require("unshare", "util-linux");
        ExternalTool.Require("nsenter", "util-linux");
        if (systemd is null)
        {
            ExternalTool.Require("systemd", "systemd");
        }
        if (Environment.UserName != "root" && !string.Equals(Environment.GetEnvironmentVariable("USER"), "root", StringComparison.Ordinal)
            && ExternalTool.Run("id", ["-u"]).StdOut.Trim() != "0")
        {
            const string reason = "SKIPPED LOUDLY: a real systemd in a private mount namespace needs root (run the tests as root, as CI does).";
            if (ExternalTool.ToolsRequired)
            {
                Assert.Fail(reason + " BELAY_REQUIRE_TOOLS=1, so this is a failure.");
            }
            Assert.Skip(reason);
        }
        Directory.CreateDirectory(home);
        var psi = new ProcessStartInfo("unshare")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var a in new[]
        {
            "-m", "--propagation", "private", "/bin/sh", "-ec",
            "mount -t tmpfs tmpfs /run/systemd; mkdir -p /run/systemd/system; " +
            $"mount -t tmpfs tmpfs /run/user; mkdir -p -m 0700 {RuntimeDir}; exec \"$0\" --user",
            systemd!,
        })
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("XDG_", StringComparison.Ordinal) || k.StartsWith("DBUS_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }
        psi.Environment["HOME"] = home;
        psi.Environment["XDG_RUNTIME_DIR"] = RuntimeDir;
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start unshare");
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        var manager = new UserSystemd(process, home);
        var watch = Stopwatch.StartNew();
        string state = "";
        while (watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (process.HasExited)
            {
                break;
            }
            state = manager.Systemctl("is-system-running").StdOut.Trim();
            if (state is "running" or "degraded")
            {
                return manager;
            }
            Thread.Sleep(100);
        }
        manager.Dispose();
        string output;
        lock (log)
        {
            output = log.ToString();
        }
        Assert.Fail($"systemd --user did not come up within 30 s (is-system-running said '{state}'). Its output:\n{output}");
        return null!;
    }

    /// <summary>Runs a command inside the manager's mount namespace, as a login of its user would (HOME, XDG_RUNTIME_DIR).</summary>
    public ToolResult Run(string executable, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var environment = new Dictionary<string, string?>
        {
            ["HOME"] = Home,
            ["XDG_RUNTIME_DIR"] = RuntimeDir,
            ["XDG_CONFIG_HOME"] = null,
            ["XDG_DATA_HOME"] = null,
            ["XDG_STATE_HOME"] = null,
            ["DBUS_SESSION_BUS_ADDRESS"] = null,
        };
        return ExternalTool.Run("nsenter", ["-t", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "-m", "--", executable, .. args],
            environment: environment, timeout: timeout);
    }

    public ToolResult Systemctl(params string[] args) => Run("systemctl", ["--user", "--no-pager", .. args]);

    /// <summary>One property of a unit (systemctl show -p NAME --value).</summary>
    public string Property(string unit, string name) => Systemctl("show", "-p", name, "--value", unit).StdOut.Trim();

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                // SIGTERM: the manager stops its units, then exits; its namespace and tmpfs go with it.
                ExternalTool.Run("kill", ["-TERM", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                if (!_process.WaitForExit(TimeSpan.FromSeconds(20)))
                {
                    _process.Kill(entireProcessTree: true);
                }
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }
}
