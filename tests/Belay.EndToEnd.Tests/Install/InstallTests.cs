using System.Text.Json;
using System.Text.RegularExpressions;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>belay install, status and uninstall, with the shipped binaries and a feed on nginx.</summary>
public sealed class InstallTests : IDisposable
{
    private readonly InstalledHost _host = new();

    public void Dispose() => _host.Dispose();

    [Fact]
    public void InstallBringsUpAReadyAgentAndStatusShowsTheVersionAndHostFacts()
    {
        _host.PublishAgent("1.0.0");
        var install = _host.Install();
        Assert.True(install.ExitCode == 0, install + _host.ReadLog());
        Assert.Contains("running and ready", install.StdOut, StringComparison.Ordinal);

        var status = _host.Status();
        Assert.Equal("1.0.0", InstalledHost.Version(status));
        Assert.True(status.GetProperty("agent").GetProperty("ready").GetBoolean());
        var keeperPid = status.GetProperty("keeper").GetProperty("pid").GetInt32();
        Assert.True(keeperPid > 0);
        // `belay run` execs the installation's bin/belay-keeper: the keeper is that executable, same pid.
        var keeperExe = Path.Combine(_host.Prefix, "bin", "belay-keeper");
        Assert.Equal(keeperExe, new FileInfo($"/proc/{keeperPid}/exe").LinkTarget);
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(keeperExe));
        Assert.Equal("stable", status.GetProperty("channel").GetString());
        Assert.Equal("ok", status.GetProperty("lastCheck").GetProperty("result").GetString());
        var host = status.GetProperty("host");
        Assert.Equal(Environment.MachineName, host.GetProperty("hostname").GetString());
        Assert.Equal(32, host.GetProperty("id").GetString()!.Length);
        Assert.Contains("Linux", host.GetProperty("os").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(System.Text.Json.JsonValueKind.Array, host.GetProperty("macs").ValueKind);

        var human = InstalledHost.Belay("status", "--prefix", _host.Prefix, "--scope", "user");
        Assert.Contains("agent:            pid", human.StdOut, StringComparison.Ordinal);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_host.Prefix, "etc", "config.json")));
        Assert.Equal((UnixFileMode)0b111_000_000, File.GetUnixFileMode(Path.Combine(_host.Prefix, "var")));
    }

    [Fact]
    public void TheAgentPollsWithConditionalGetsThatNginxAnswersWith304()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        // Poll interval 1 s: a few polls, each a conditional GET of the manifest, and no
        // root.json fetch while the manifest is unchanged.
        _host.WaitFor(_ => Regex.Count(_host.Nginx.AccessLog, "GET /channels/stable.json HTTP/1.1\" 304 ") >= 3, TimeSpan.FromSeconds(20), "polling with 304s");
        var log = _host.Nginx.AccessLog;
        var rootFetches = Regex.Count(log, "GET /root.json HTTP");
        Assert.True(rootFetches <= 2, $"root.json fetched {rootFetches} times:\n{log}");
    }

    [Fact]
    public void ReinstallingWithTheSameOptionsDoesNothingAndSaysSo()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        var keeper = _host.Status().GetProperty("keeper").GetProperty("pid").GetInt32();
        var again = _host.Install();
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("nothing to do", again.StdOut, StringComparison.Ordinal);
        Assert.Equal(keeper, _host.Status().GetProperty("keeper").GetProperty("pid").GetInt32());
    }

    [Fact]
    public void ReinstallingWithOtherOptionsUpdatesTheConfigAndRestartsTheKeeper()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        var keeper = _host.Status().GetProperty("keeper").GetProperty("pid").GetInt32();
        var again = InstalledHost.Belay("install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix,
            "--root-key", _host.Workspace.RootPub, "--poll-interval", "2s", "--trial-deadline", InstalledHost.TrialDeadline, "--wait", "30s");
        Assert.True(again.ExitCode == 0, again + _host.ReadLog());
        Assert.Contains("updated", again.StdOut, StringComparison.Ordinal);
        Assert.Contains("\"pollInterval\": \"2s\"", File.ReadAllText(Path.Combine(_host.Prefix, "etc", "config.json")), StringComparison.Ordinal);
        var status = _host.WaitFor(s => InstalledHost.On(s, "1.0.0"), TimeSpan.FromSeconds(20), "running again");
        Assert.NotEqual(keeper, status.GetProperty("keeper").GetProperty("pid").GetInt32());
    }

    [Fact]
    public void TheDetachedKeeperStartedByInstallIsBelayKeeperAndStopsOnSigint()
    {
        // install starts bin/belay-keeper through sh itself (no `belay run` in between), in the foreground of
        // that sh: a keeper started as `... &` would have SIGINT ignored (POSIX, for a shell's asynchronous
        // list), which `belay run` used to reset before its exec.
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        AssertTheKeeperStopsOnSigint();
    }

    [Fact]
    public void AKeeperThatInheritedSigintIgnoredStillStopsOnIt()
    {
        // What a shell's `belay install ... &`, an init script or a CI job under nohup hands down: SIGINT and SIGQUIT
        // ignored, through every exec. The .NET runtime leaves an ignored SIGINT ignored, so the keeper resets it.
        _host.PublishAgent("1.0.0");
        var install = ExternalTool.Run("/bin/sh", ["-c", "trap '' INT QUIT; exec \"$0\" \"$@\"", _host.Build.Belay, .. _host.InstallArgs()],
            timeout: TimeSpan.FromMinutes(2));
        Assert.True(install.ExitCode == 0, install.ToString());
        AssertTheKeeperStopsOnSigint();
    }

    private void AssertTheKeeperStopsOnSigint()
    {
        var status = _host.Status();
        var keeper = status.GetProperty("keeper").GetProperty("pid").GetInt32();
        var agent = status.GetProperty("agent").GetProperty("pid").GetInt32();
        Assert.Equal(Path.Combine(_host.Prefix, "bin", "belay-keeper"), File.ReadAllText($"/proc/{keeper}/cmdline").Split('\0')[0]);

        var kill = ExternalTool.Run("kill", ["-INT", keeper.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(kill.ExitCode == 0, kill.ToString());
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while ((ExternalTool.IsRunning(keeper) || ExternalTool.IsRunning(agent)) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
        }
        Assert.False(ExternalTool.IsRunning(keeper), "the keeper ignored SIGINT: " + _host.ReadLog());
        Assert.False(ExternalTool.IsRunning(agent), "the agent is still running after its keeper stopped");
        // Stopped by its own handler (the agent first, then its pid file), not killed by the signal's default action.
        Assert.Contains("keeper stopped", _host.ReadLog(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_host.Prefix, "var", "keeper.pid")), "keeper.pid left behind: the keeper did not stop by its own handler");
    }

    [Fact]
    public void UninstallStopsEverythingAndPurgeRemovesEverything()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        var status = _host.Status();
        var keeper = status.GetProperty("keeper").GetProperty("pid").GetInt32();
        var agent = status.GetProperty("agent").GetProperty("pid").GetInt32();

        var uninstall = InstalledHost.Belay("uninstall", "--prefix", _host.Prefix, "--scope", "user", "--purge");
        Assert.True(uninstall.ExitCode == 0, uninstall.ToString());
        Assert.False(Directory.Exists(Path.Combine(_host.Prefix, "versions")));
        Assert.False(Directory.Exists(Path.Combine(_host.Prefix, "etc")));
        Assert.False(Directory.Exists(_host.Prefix));
        Assert.False(ExternalTool.IsRunning(keeper), "the keeper is still running");
        Assert.False(ExternalTool.IsRunning(agent), "the agent is still running");
    }

    [Fact]
    public void AKeeperKilledOutrightWhosePidWentToAnotherProgramIsStartedAgainAndTheOtherProgramLeftAlone()
    {
        // keeper.pid outlives a keeper killed with SIGKILL (or a host that lost power), and its pid can go to any
        // program. Whether a keeper runs is its lock's to say, and only a process that runs the installation's keeper
        // is ever signalled: install starts a new keeper, uninstall does not SIGTERM the stranger.
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        KillKeeperAndAgent();
        using var stranger = StartStranger();

        var install = _host.Install();
        Assert.True(install.ExitCode == 0, install + _host.ReadLog());
        Assert.Contains("running and ready", install.StdOut, StringComparison.Ordinal);
        var keeper = _host.Status().GetProperty("keeper").GetProperty("pid").GetInt32();
        Assert.NotEqual(stranger.Id, keeper);
        Assert.True(ExternalTool.IsRunning(keeper));

        KillKeeperAndAgent();
        File.WriteAllText(Path.Combine(_host.Prefix, "var", "keeper.pid"), stranger.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
        var uninstall = InstalledHost.Belay("uninstall", "--prefix", _host.Prefix, "--scope", "user", "--purge");
        Assert.True(uninstall.ExitCode == 0, uninstall.ToString());
        Assert.False(Directory.Exists(_host.Prefix));
        Assert.False(stranger.HasExited, "uninstall ended a program that was not its keeper");
        stranger.Kill();
    }

    [Fact]
    public void AKeeperStartingWhileAStatusLooksAtItsLockStillStartsAndASecondKeeperIsRefused()
    {
        // `belay status` (and install, and uninstall) ask whether a keeper runs by taking keeper.lock for a moment: a
        // keeper starting in that moment waits for it, and only a lock held for good means another keeper.
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        KillKeeperAndAgent();
        var keeperExe = Path.Combine(_host.Prefix, "bin", "belay-keeper");
        var config = Path.Combine(_host.Prefix, "etc", "config.json");
        var lockFile = Path.Combine(_host.Prefix, "var", "keeper.lock");
        using (new FileStream(lockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var start = ExternalTool.Run("/bin/sh", ["-c", "exec \"$0\" --config \"$1\" --detach --log \"$2\" </dev/null >>\"$2\" 2>&1 &", keeperExe, config, _host.KeeperLog]);
            Assert.True(start.ExitCode == 0, start.ToString());
            Thread.Sleep(300); // the keeper meets the lock taken
        }
        var status = _host.WaitFor(s => s.GetProperty("agent").GetProperty("ready").GetBoolean(), TimeSpan.FromSeconds(30), "ready after the lock was let go");
        var keeper = status.GetProperty("keeper").GetProperty("pid").GetInt32();

        var second = ExternalTool.Run(keeperExe, ["--config", config], timeout: TimeSpan.FromSeconds(30));
        Assert.NotEqual(0, second.ExitCode);
        Assert.Contains("another keeper is already running for this installation", second.StdErr + second.StdOut, StringComparison.Ordinal);
        Assert.True(ExternalTool.IsRunning(keeper), "the first keeper stopped");
        Assert.Equal(keeper, _host.Status().GetProperty("keeper").GetProperty("pid").GetInt32());
    }

    private void KillKeeperAndAgent()
    {
        var status = _host.Status();
        foreach (var role in new[] { "keeper", "agent" })
        {
            var pid = status.GetProperty(role).GetProperty("pid").GetInt32();
            Assert.Equal(0, ExternalTool.Run("kill", ["-KILL", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]).ExitCode);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (ExternalTool.IsRunning(pid) && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
            }
            Assert.False(ExternalTool.IsRunning(pid), $"the {role} survived SIGKILL");
        }
    }

    /// <summary>A program that holds the pid keeper.pid names, as a pid that went to another program would.</summary>
    private System.Diagnostics.Process StartStranger()
    {
        var stranger = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", "300") { UseShellExecute = false })!;
        File.WriteAllText(Path.Combine(_host.Prefix, "var", "keeper.pid"), stranger.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
        return stranger;
    }

    [Fact]
    public void TheDetachedKeepersLogIsRotatedPastTenMegabytesAndTheNextAgentWritesToTheNewFile()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        var agent = _host.Status().GetProperty("agent").GetProperty("pid").GetInt32();
        // Ten megabytes of history, then an event the keeper logs (its agent dies).
        using (var log = new FileStream(_host.KeeperLog, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
        {
            var line = System.Text.Encoding.ASCII.GetBytes(new string('h', 99) + "\n");
            for (var i = 0; i < 10 * 1024 * 1024 / 100 + 1; i++)
            {
                log.Write(line);
            }
        }
        ExternalTool.Run("kill", ["-9", agent.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        _host.WaitFor(s => s.GetProperty("agent").GetProperty("pid").ValueKind == System.Text.Json.JsonValueKind.Number
            && s.GetProperty("agent").GetProperty("pid").GetInt32() != agent && InstalledHost.On(s, "1.0.0"), TimeSpan.FromSeconds(30), "a new agent");

        var rotated = _host.KeeperLog + ".1";
        Assert.True(File.Exists(rotated), $"no {rotated}");
        Assert.True(new FileInfo(rotated).Length > 10 * 1024 * 1024, $"{rotated}: {new FileInfo(rotated).Length} bytes");
        var current = _host.ReadLog();
        Assert.True(current.Length < 64 * 1024, $"keeper.log holds {current.Length} bytes after the rotation");
        Assert.DoesNotContain("hhhh", current, StringComparison.Ordinal);
        Assert.Contains("keeper started agent 1.0.0", current, StringComparison.Ordinal);
        Assert.Contains("agent INF", current, StringComparison.Ordinal); // the new agent inherited the new file
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(_host.KeeperLog));
    }

    [Fact]
    public void ASystemInstallWithoutRootExits5AndSuggestsSudoOrUserScope()
    {
        _host.PublishAgent("1.0.0");
        var args = new[] { BelayBinaries.Belay, "install", "--feed", _host.FeedUrl, "--scope", "system", "--root-key", _host.Workspace.RootPub };
        ToolResult result;
        if (Environment.UserName == "root")
        {
            var setpriv = ExternalTool.Require("setpriv", "util-linux");
            result = ExternalTool.Run(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", .. args]);
        }
        else
        {
            result = ExternalTool.Run(args[0], args[1..]);
        }
        Assert.Equal(5, result.ExitCode);
        Assert.Contains("sudo", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("--scope user", result.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void InstallPutsALinkOnPathSaysHowToRunBelayAndUninstallRemovesTheLink()
    {
        _host.PublishAgent("1.0.0");
        var linkDir = Path.Combine(_host.Workspace.Root, "usr-local-bin");
        Directory.CreateDirectory(linkDir);
        var belay = Path.Combine(_host.Prefix, "bin", "belay");
        var link = Path.Combine(linkDir, "belay");

        // The link folder is not on PATH here: the last lines give the line to add, as rustup does.
        var install = _host.Install("--link-dir", linkDir);
        Assert.True(install.ExitCode == 0, install + _host.ReadLog());
        Assert.Equal(belay, new FileInfo(link).LinkTarget);
        var last = install.StdOut.TrimEnd().Split('\n')[^3..];
        Assert.Contains($"belay is in {Path.Combine(_host.Prefix, "bin")}, which is not on your PATH", last[0], StringComparison.Ordinal);
        Assert.Equal($"  export PATH=\"{Path.Combine(_host.Prefix, "bin")}:$PATH\"", last[1]);
        Assert.Equal($"or run it by its full path: {belay} status --prefix {_host.Prefix}", last[2]);
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(_host.Prefix, "etc", "config.json"))))
        {
            Assert.Equal(link, config.RootElement.GetProperty("paths").GetProperty("link").GetString());
        }

        // With the link folder on PATH, the same install says to run belay.
        var path = linkDir + ":" + Environment.GetEnvironmentVariable("PATH");
        var again = BelayBinaries.RunWith(new Dictionary<string, string?> { ["PATH"] = path }, BelayBinaries.Belay, _host.InstallArgs("--link-dir", linkDir));
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.EndsWith($"belay is on your PATH ({link} -> {belay}); try: belay status --prefix {_host.Prefix}", again.StdOut.TrimEnd(), StringComparison.Ordinal);
        var viaLink = ExternalTool.Run(link, ["status", "--prefix", _host.Prefix, "--scope", "user"]);
        Assert.True(viaLink.ExitCode == 0, viaLink.ToString());

        var uninstall = InstalledHost.Belay("uninstall", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(uninstall.ExitCode == 0, uninstall.ToString());
        Assert.Contains($"removed the link {link}", uninstall.StdOut, StringComparison.Ordinal);
        Assert.False(Path.Exists(link) || new FileInfo(link).LinkTarget is not null);
    }

    [Fact]
    public void AFileThatIsNotBelaysLinkIsNeverReplacedNorRemoved()
    {
        _host.PublishAgent("1.0.0");
        var linkDir = Path.Combine(_host.Workspace.Root, "usr-local-bin");
        Directory.CreateDirectory(linkDir);
        var foreign = Path.Combine(linkDir, "belay");
        File.WriteAllText(foreign, "#!/bin/sh\necho somebody else's belay\n");
        var other = Path.Combine(linkDir, "elsewhere");
        File.WriteAllText(other, "x");

        var install = _host.Install("--link-dir", linkDir);
        Assert.True(install.ExitCode == 0, install + _host.ReadLog());
        Assert.Contains($"warning: not replacing {foreign}: it is not Belay's link", install.StdOut, StringComparison.Ordinal);
        Assert.Equal("#!/bin/sh\necho somebody else's belay\n", File.ReadAllText(foreign));
        Assert.Equal(0, InstalledHost.Belay("uninstall", "--prefix", _host.Prefix, "--scope", "user").ExitCode);
        Assert.Equal("#!/bin/sh\necho somebody else's belay\n", File.ReadAllText(foreign));

        // A link to something else is somebody else's too.
        File.Delete(foreign);
        File.CreateSymbolicLink(foreign, other);
        var second = _host.Install("--link-dir", linkDir);
        Assert.True(second.ExitCode == 0, second + _host.ReadLog());
        Assert.Contains($"warning: not replacing {foreign}: it is a link to {other}", second.StdOut, StringComparison.Ordinal);
        Assert.Equal(0, InstalledHost.Belay("uninstall", "--prefix", _host.Prefix, "--scope", "user").ExitCode);
        Assert.Equal(other, new FileInfo(foreign).LinkTarget);
    }

    [Fact]
    public void StatusExitsOneWhileTheKeeperIsDownAndSaysHowToStartIt()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        Assert.Equal(0, InstalledHost.Belay("status", "--prefix", _host.Prefix, "--scope", "user").ExitCode);

        Assert.Equal(0, InstalledHost.Belay("service", "stop", "--prefix", _host.Prefix, "--scope", "user").ExitCode);
        var down = InstalledHost.Belay("status", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(down.ExitCode == 1, down.ToString());
        Assert.Contains("keeper:           not running", down.StdOut, StringComparison.Ordinal);
        Assert.Contains($"belay: the keeper is not running; start it with: belay service start --scope user --prefix {_host.Prefix}", down.StdErr, StringComparison.Ordinal);
        var json = InstalledHost.Belay("status", "--json", "--prefix", _host.Prefix, "--scope", "user");
        Assert.Equal(1, json.ExitCode);
        using (var doc = JsonDocument.Parse(json.StdOut))
        {
            Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("keeper").ValueKind);
        }

        Assert.Equal(0, InstalledHost.Belay("service", "start", "--prefix", _host.Prefix, "--scope", "user").ExitCode);
        _host.WaitFor(s => InstalledHost.On(s, "1.0.0"), TimeSpan.FromSeconds(30), "running again");
        Assert.Equal(0, InstalledHost.Belay("status", "--prefix", _host.Prefix, "--scope", "user").ExitCode);
    }

    [Fact]
    public void OnATerminalTheDownloadDrawsItsProgressAndInAPipeNothingButLines()
    {
        _host.PublishAgent("1.0.0");
        var piped = _host.Install();
        Assert.True(piped.ExitCode == 0, piped + _host.ReadLog());
        Assert.DoesNotContain("% [", piped.StdOut + piped.StdErr, StringComparison.Ordinal);
        Assert.Equal(0, InstalledHost.Belay("uninstall", "--prefix", _host.Prefix, "--scope", "user", "--purge").ExitCode);

        // script(1) gives the install a pseudo-terminal, as an operator's shell does.
        var script = ExternalTool.Require("script", "bsdutils");
        var command = string.Join(' ', new[] { BelayBinaries.Belay }.Concat(_host.InstallArgs()).Select(a => "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));
        var tty = ExternalTool.Run(script, ["-qec", command, "/dev/null"], timeout: TimeSpan.FromMinutes(2));
        Assert.True(tty.ExitCode == 0, tty.ToString());
        // The bar is redrawn with carriage returns, which the capture here reads as line ends.
        Assert.Matches(new System.Text.RegularExpressions.Regex(@"^  [0-9.]+ (B|KiB|MiB) of [0-9.]+ MiB +[0-9]+% \[[#-]{20}\]", System.Text.RegularExpressions.RegexOptions.Multiline), tty.StdOut);
        Assert.Contains("100% [####################]", tty.StdOut, StringComparison.Ordinal);
        Assert.Contains("staged version 1.0.0", tty.StdOut, StringComparison.Ordinal);
    }
}
