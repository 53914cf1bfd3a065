using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>
/// belay install --service-manager systemd against a real systemd (a user instance in a
/// private mount namespace, see <see cref="UserSystemd"/>), with the shipped binaries and a
/// feed served by nginx: registered, active and ready; restarted by systemd when the keeper is
/// killed; updated through the feed; uninstalled with nothing left.
/// </summary>
public sealed class SystemdTests : IDisposable
{
    private readonly InstalledHost _host = new();
    private UserSystemd? _systemd;

    public void Dispose()
    {
        try
        {
            if (_systemd is not null && Directory.Exists(_host.Prefix))
            {
                Belay("uninstall", "--prefix", _host.Prefix, "--scope", "user", "--purge");
            }
        }
        finally
        {
            _systemd?.Dispose();
            _host.Dispose();
        }
    }

    private UserSystemd Systemd => _systemd ??= UserSystemd.Start(Path.Combine(_host.Workspace.Root, "home"));

    private ToolResult Belay(params string[] args) => Systemd.Run(BelayBinaries.Belay, args, TimeSpan.FromMinutes(2));

    private JsonElement Status()
    {
        var result = Belay("status", "--prefix", _host.Prefix, "--scope", "user", "--json");
        Assert.True(result.ExitCode is 0 or 1 && result.StdOut.Length > 0, result.ToString()); // 1: keeper or agent down
        using var doc = JsonDocument.Parse(result.StdOut);
        return doc.RootElement.Clone();
    }

    private JsonElement WaitFor(Func<JsonElement, bool> done, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        JsonElement status = default;
        string? stopping = null;
        while (watch.Elapsed < timeout)
        {
            status = Status();
            if (done(status))
            {
                return status;
            }
            if (stopping is null && Systemd.Property("belay.service", "ActiveState") == "deactivating")
            {
                // What is still in the service's cgroup while systemd waits for it to empty (for a failure's message).
                stopping = $"at {watch.Elapsed.TotalSeconds:0.0} s the service was stopping:\n{Systemd.Systemctl("status", "belay.service").StdOut}\n";
            }
            Thread.Sleep(250);
        }
        Assert.Fail($"not {what} within {timeout.TotalSeconds:0} s. {stopping}Last status:\n{status}\n" +
            $"systemctl --user status:\n{Systemd.Systemctl("status", "belay.service").StdOut}");
        return status;
    }

    [Fact]
    public void SystemdRunsTheKeeperRestartsItFollowsTheFeedAndUninstallLeavesNothing()
    {
        _host.PublishAgent("1.0.0");
        var unit = Path.Combine(Systemd.UnitDirectory, "belay.service");

        // Install: the unit is written, enabled and started; Type=notify means enable --now
        // returned only after the keeper said READY=1 (the agent is ready).
        var install = Belay("install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix,
            "--root-key", _host.Workspace.RootPub, "--service-manager", "systemd",
            "--poll-interval", InstalledHost.PollInterval, "--trial-deadline", InstalledHost.TrialDeadline, "--wait", "30s");
        Assert.True(install.ExitCode == 0, install.ToString());
        Assert.Contains($"registered the keeper with systemd ({unit})", install.StdOut, StringComparison.Ordinal);
        Assert.True(File.Exists(unit));
        Assert.Equal("active", Systemd.Property("belay.service", "ActiveState"));
        Assert.Equal("enabled", Systemd.Systemctl("is-enabled", "belay.service").StdOut.Trim());
        Assert.Equal("agent 1.0.0 ready", Systemd.Property("belay.service", "StatusText"));
        var status = Status();
        Assert.True(InstalledHost.On(status, "1.0.0"), status.ToString());
        var service = status.GetProperty("service");
        Assert.Equal("systemd", service.GetProperty("manager").GetString());
        Assert.True(service.GetProperty("running").GetBoolean(), status.ToString());
        Assert.Equal("active (running)", service.GetProperty("state").GetString());
        var keeper = int.Parse(Systemd.Property("belay.service", "MainPID"), CultureInfo.InvariantCulture);
        Assert.Equal(keeper, status.GetProperty("keeper").GetProperty("pid").GetInt32());

        // Killed without warning, the keeper is started again by systemd (Restart=always).
        Assert.Equal(0, ExternalTool.Run("kill", ["-KILL", keeper.ToString(CultureInfo.InvariantCulture)]).ExitCode);
        status = WaitFor(s => s.GetProperty("keeper").ValueKind == JsonValueKind.Object &&
            s.GetProperty("keeper").GetProperty("pid").GetInt32() != keeper && InstalledHost.On(s, "1.0.0"),
            TimeSpan.FromSeconds(30), "restarted by systemd");
        Assert.Equal("1", Systemd.Property("belay.service", "NRestarts"));
        Assert.Equal(status.GetProperty("keeper").GetProperty("pid").GetInt32(),
            int.Parse(Systemd.Property("belay.service", "MainPID"), CultureInfo.InvariantCulture));

        // A new release on the feed: the agent stages it, the keeper switches, under systemd.
        _host.PublishAgent("1.1.0");
        WaitFor(s => InstalledHost.On(s, "1.1.0"), TimeSpan.FromSeconds(60), "on 1.1.0");
        Assert.Equal("active", Systemd.Property("belay.service", "ActiveState"));

        // Uninstall: disabled, stopped, unit removed; systemd no longer knows it; nothing runs.
        var uninstall = Belay("uninstall", "--prefix", _host.Prefix, "--scope", "user", "--purge");
        Assert.True(uninstall.ExitCode == 0, uninstall.ToString());
        Assert.Contains("removed its systemd registration", uninstall.StdOut, StringComparison.Ordinal);
        Assert.False(File.Exists(unit));
        Assert.Equal("not-found", Systemd.Property("belay.service", "LoadState"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Systemd.UnitDirectory, "belay*", SearchOption.AllDirectories));
        Assert.NotEqual(0, ExternalTool.Run("pgrep", ["-f", _host.Prefix]).ExitCode);
    }

    [Fact]
    public void ProgramsComeBackWhenSystemdStopsAndStartsTheServiceOrTheKeeperGetsSigterm()
    {
        _host.PublishAgent("1.0.0");
        var programs = Path.Combine(_host.Prefix, "etc", "programs.conf");
        Directory.CreateDirectory(Path.GetDirectoryName(programs)!);
        File.WriteAllText(programs, "[program:web]\ncommand = sleep 1000\n\n[program:held]\ncommand = sleep 1001\n");
        File.SetUnixFileMode(programs, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var install = Belay("install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix,
            "--root-key", _host.Workspace.RootPub, "--service-manager", "systemd", "--poll-interval", InstalledHost.PollInterval, "--wait", "30s");
        Assert.True(install.ExitCode == 0, install.ToString());
        var web = WaitForRunning("web", 0);
        WaitForRunning("held", 0);
        var held = Belay("stop", "held", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(held.ExitCode == 0, held.ToString());

        // systemctl stop, then start: what a reboot does to the service.
        var stop = Belay("service", "stop", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.False(ExternalTool.IsRunning(web), $"web (pid {web}) still runs after systemd stopped the service");
        var start = Belay("service", "start", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(start.ExitCode == 0, start.ToString());
        web = WaitForRunning("web", web);

        // SIGTERM to the keeper alone (as `kill` or a manager's stop sends it): it stops cleanly, systemd
        // starts it again (Restart=always), and the programs come back with it.
        var keeper = int.Parse(Systemd.Property("belay.service", "MainPID"), CultureInfo.InvariantCulture);
        Assert.Equal(0, ExternalTool.Run("kill", ["-TERM", keeper.ToString(CultureInfo.InvariantCulture)]).ExitCode);
        WaitForRunning("web", web);
        Assert.Equal("stopped", State(Status(), "held"));
    }

    [Fact]
    public void AFreshInstallOfACrashingReleaseUnderSystemdIsUndoneInSecondsAndSaysHow()
    {
        _host.PublishAgent("1.0.0");
        _host.PublishScript("1.1.0", "exit 1");
        var watch = Stopwatch.StartNew();
        var install = Belay("install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix,
            "--root-key", _host.Workspace.RootPub, "--service-manager", "systemd", "--wait", "60s");
        Assert.True(install.ExitCode == 1, install.ToString());
        Assert.Contains("version 1.1.0 does not run on this host: its agent exited with code 1 three times in a row", install.StdErr, StringComparison.Ordinal);
        Assert.Contains("--version 1.0.0", install.StdErr, StringComparison.Ordinal);
        Assert.Contains("journalctl --user -u belay.service", install.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("{\"", install.StdErr, StringComparison.Ordinal);
        // systemd alone would wait out its start timeout (90 s) for a READY=1 that never comes.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(45), $"took {watch.Elapsed}");
        Assert.Equal("not-found", Systemd.Property("belay.service", "LoadState"));
        Assert.NotEqual(0, ExternalTool.Run("pgrep", ["-f", _host.Prefix]).ExitCode);
    }

    private int WaitForRunning(string program, int notPid)
    {
        var status = WaitFor(s => State(s, program) == "running" && Pid(s, program) is var p && p > 0 && p != notPid,
            TimeSpan.FromSeconds(60), $"{program} running{(notPid > 0 ? $" again (not pid {notPid})" : "")}");
        return Pid(status, program);
    }

    private static JsonElement Program(JsonElement status, string name) =>
        status.GetProperty("programs").EnumerateArray().FirstOrDefault(p => p.GetProperty("name").GetString() == name);

    private static string? State(JsonElement status, string name) =>
        Program(status, name) is { ValueKind: JsonValueKind.Object } p ? p.GetProperty("state").GetString() : null;

    private static int Pid(JsonElement status, string name) =>
        Program(status, name) is { ValueKind: JsonValueKind.Object } p && p.GetProperty("pid").ValueKind == JsonValueKind.Number ? p.GetProperty("pid").GetInt32() : 0;

    [Fact]
    public void TheServiceCommandsStopStartAndReportThroughSystemd()
    {
        _host.PublishAgent("1.0.0");
        var install = Belay("install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix,
            "--root-key", _host.Workspace.RootPub, "--service-manager", "systemd", "--wait", "30s");
        Assert.True(install.ExitCode == 0, install.ToString());

        var stop = Belay("service", "stop", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.Equal("inactive", Systemd.Property("belay.service", "ActiveState"));
        var stopped = Belay("service", "status", "--prefix", _host.Prefix, "--scope", "user");
        Assert.Equal(1, stopped.ExitCode);
        Assert.StartsWith("systemd: inactive (dead)", stopped.StdOut, StringComparison.Ordinal);
        Assert.NotEqual(0, ExternalTool.Run("pgrep", ["-f", _host.Prefix]).ExitCode);

        var start = Belay("service", "start", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(start.ExitCode == 0, start.ToString());
        Assert.Contains("systemd: active (running)", start.StdOut, StringComparison.Ordinal);
        var running = Belay("service", "status", "--prefix", _host.Prefix, "--scope", "user");
        Assert.Equal(0, running.ExitCode);

        // Re-running the same install changes nothing and restarts nothing.
        var pid = Systemd.Property("belay.service", "MainPID");
        var again = Belay("install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix,
            "--root-key", _host.Workspace.RootPub, "--wait", "30s");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("nothing to do", again.StdOut, StringComparison.Ordinal);
        Assert.Equal(pid, Systemd.Property("belay.service", "MainPID"));
    }
}
