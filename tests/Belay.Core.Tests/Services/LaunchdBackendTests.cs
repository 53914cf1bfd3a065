using Belay.Core.Install;
using Belay.Core.Services;
using Belay.TestSupport;

namespace Belay.Core.Tests.Services;

/// <summary>
/// The launchd backend against a fake launchctl: the exact command lines in order, the
/// plist on disk and its mode, and what launchctl's answers (not found, refused, EIO,
/// print output) become. Not run on macOS.
/// </summary>
public sealed class LaunchdBackendTests : IDisposable
{
    private const string Print = "launchctl print system/com.belay.agent";
    private const string NotFound = "Could not find service \"com.belay.agent\" in domain for system\n";

    private readonly TempDir _dir = new("belay-launchd-");
    private readonly FakeProcessRunner _launchctl = new();
    private readonly List<TimeSpan> _sleeps = [];

    public void Dispose() => _dir.Dispose();

    private string PlistPath => _dir.Combine("LaunchDaemons", "com.belay.agent.plist");

    private static ServiceDefinition Daemon() => new()
    {
        CommandLine = ["/usr/local/belay/bin/belay", "run", "--config", "/usr/local/belay/etc/config.json"],
        WorkingDirectory = "/usr/local/belay/state",
        StdoutLog = "/Library/Logs/Belay/keeper.log",
        StderrLog = "/Library/Logs/Belay/keeper.log",
        Scope = InstallScope.System,
    };

    private LaunchdBackend Backend(uint uid = 0) => new(_launchctl, PlistPath, () => uid, _sleeps.Add);

    /// <summary>print finds the job while <paramref name="loaded"/> says so; bootout unloads it.</summary>
    private void Loaded(bool loaded, string target = "system/com.belay.agent")
    {
        var state = loaded;
        _launchctl.When("launchctl print " + target, _ => state ? new ProcessResult(0, RunningPrint, "") : new ProcessResult(113, "", NotFound));
        _launchctl.When("launchctl bootout " + target, _ =>
        {
            state = false;
            return new ProcessResult(0, "", "");
        });
        _launchctl.When("launchctl bootstrap", _ =>
        {
            state = true;
            return new ProcessResult(0, "", "");
        });
    }

    private void AssertMode0644()
    {
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(LaunchdPlist.FileMode, File.GetUnixFileMode(PlistPath));
            Assert.Equal((UnixFileMode)Convert.ToInt32("644", 8), File.GetUnixFileMode(PlistPath));
        }
    }

    [Fact]
    public void AFreshInstallWritesThePlist0644EnablesAndBootstraps()
    {
        Loaded(false);

        Backend().Install(Daemon(), start: true);

        Assert.Equal(
            [
                Print,
                "launchctl enable system/com.belay.agent",
                $"launchctl bootstrap system {PlistPath}",
            ],
            _launchctl.Commands);
        Assert.Equal(LaunchdPlist.Render(Daemon()), File.ReadAllText(PlistPath));
        AssertMode0644();
    }

    [Fact]
    public void InstallingOverALoadedJobBootsItOutWaitsForItToGoAndBootstrapsTheNewPlist()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(PlistPath)!);
        File.WriteAllText(PlistPath, "old plist");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(PlistPath, (UnixFileMode)Convert.ToInt32("666", 8));
        }
        Loaded(true);

        Backend().Install(Daemon(), start: true);

        Assert.Equal(
            [
                Print,
                "launchctl bootout system/com.belay.agent",
                Print,
                "launchctl enable system/com.belay.agent",
                $"launchctl bootstrap system {PlistPath}",
            ],
            _launchctl.Commands);
        Assert.Equal(LaunchdPlist.Render(Daemon()), File.ReadAllText(PlistPath));
        AssertMode0644();
    }

    [Fact]
    public void InstallWithoutStartWritesAndEnablesButDoesNotBootstrap()
    {
        Loaded(false);

        Backend().Install(Daemon(), start: false);

        Assert.Equal([Print, "launchctl enable system/com.belay.agent"], _launchctl.Commands);
        Assert.True(File.Exists(PlistPath));
    }

    [Fact]
    public void InstallWithoutStartOverALoadedJobLeavesItUnloaded()
    {
        Loaded(true);

        Backend().Install(Daemon(), start: false);

        Assert.Equal(
            [Print, "launchctl bootout system/com.belay.agent", Print, "launchctl enable system/com.belay.agent"],
            _launchctl.Commands);
    }

    [Fact]
    public void AUserInstallIsALaunchAgentInTheGuiDomainOfTheUser()
    {
        Loaded(false, "gui/501/com.belay.agent");

        Backend(uid: 501).Install(Daemon() with { Scope = InstallScope.User }, start: true);

        Assert.Equal(
            [
                "launchctl print gui/501/com.belay.agent",
                "launchctl enable gui/501/com.belay.agent",
                $"launchctl bootstrap gui/501 {PlistPath}",
            ],
            _launchctl.Commands);
    }

    [Fact]
    public void TheDefaultPathsAreTheLaunchDaemonsAndLaunchAgentsFolders()
    {
        var backend = new LaunchdBackend(_launchctl, uid: () => 501);
        Assert.Equal("/Library/LaunchDaemons/com.belay.agent.plist", backend.PlistPath(Daemon()));
        Assert.EndsWith("/Library/LaunchAgents/com.belay.agent.plist", backend.PlistPath(Daemon() with { Scope = InstallScope.User }), StringComparison.Ordinal);
        Assert.Equal("system/com.belay.agent", backend.Target(Daemon()));
        Assert.Equal("gui/501/com.belay.agent", backend.Target(Daemon() with { Scope = InstallScope.User }));
        Assert.Equal("launchd", backend.Name);
    }

    [Fact]
    public void UninstallBootsOutAndRemovesThePlist()
    {
        Loaded(false);
        Backend().Install(Daemon(), start: true);
        _launchctl.Commands.Clear();

        Assert.True(Backend().Uninstall(Daemon()));

        Assert.Equal([Print, "launchctl bootout system/com.belay.agent", Print], _launchctl.Commands);
        Assert.False(File.Exists(PlistPath));
    }

    [Fact]
    public void UninstallOfAPlistThatIsNotLoadedOnlyRemovesIt()
    {
        Loaded(false);
        Backend().Install(Daemon(), start: false);
        _launchctl.Commands.Clear();

        Assert.True(Backend().Uninstall(Daemon()));

        Assert.Equal([Print], _launchctl.Commands);
        Assert.False(File.Exists(PlistPath));
    }

    [Fact]
    public void UninstallOfWhatIsNotInstalledReturnsFalseAndChangesNothing()
    {
        Loaded(false);

        Assert.False(Backend().Uninstall(Daemon()));
        Assert.False(Backend(uid: 501).Uninstall(Daemon()));

        Assert.Equal([Print, Print], _launchctl.Commands);
    }

    [Theory]
    [InlineData("start")]
    [InlineData("stop")]
    [InlineData("restart")]
    public void StartStopAndRestartOfAMissingServiceSayItIsNotInstalled(string verb)
    {
        Loaded(false);
        var backend = Backend();
        Action act = verb switch
        {
            "start" => () => backend.Start(Daemon()),
            "stop" => () => backend.Stop(Daemon()),
            _ => () => backend.Restart(Daemon()),
        };

        var e = Assert.Throws<BelayException>(act);

        Assert.Equal(ExitCodes.Error, e.ExitCode);
        Assert.Contains($"cannot {verb} the keeper", e.Message, StringComparison.Ordinal);
        Assert.Contains("not installed", e.Message, StringComparison.Ordinal);
        Assert.Contains("belay install --service-manager launchd", e.Message, StringComparison.Ordinal);
        Assert.Equal([Print], _launchctl.Commands);
    }

    [Fact]
    public void StartKickstartsALoadedJobAndBootstrapsAnUnloadedOne()
    {
        Loaded(true);
        Backend().Start(Daemon());
        Assert.Equal([Print, "launchctl kickstart system/com.belay.agent"], _launchctl.Commands);

        _launchctl.Commands.Clear();
        Loaded(false);
        Directory.CreateDirectory(Path.GetDirectoryName(PlistPath)!);
        File.WriteAllText(PlistPath, LaunchdPlist.Render(Daemon()));
        Backend().Start(Daemon());
        Assert.Equal([Print, "launchctl enable system/com.belay.agent", $"launchctl bootstrap system {PlistPath}"], _launchctl.Commands);
    }

    [Fact]
    public void StopBootsOutAndRestartKillsAndStartsAgain()
    {
        Loaded(true);
        Backend().Restart(Daemon());
        Assert.Equal([Print, "launchctl kickstart -k system/com.belay.agent"], _launchctl.Commands);

        _launchctl.Commands.Clear();
        Backend().Stop(Daemon());
        Assert.Equal([Print, "launchctl bootout system/com.belay.agent", Print], _launchctl.Commands);
    }

    [Fact]
    public void TheSystemDomainWithoutRootIsRefusedBeforeAnythingIsWrittenOrRun()
    {
        Loaded(false);

        var e = Assert.Throws<BelayException>(() => Backend(uid: 501).Install(Daemon(), start: true));

        Assert.Equal(ExitCodes.NeedsPrivileges, e.ExitCode);
        Assert.Equal(5, e.ExitCode);
        Assert.Contains("sudo", e.Message, StringComparison.Ordinal);
        Assert.Contains("--scope user", e.Message, StringComparison.Ordinal);
        Assert.Empty(_launchctl.Commands);
        Assert.False(File.Exists(PlistPath));
    }

    [Fact]
    public void ALaunchAgentForRootIsRefused()
    {
        var e = Assert.Throws<BelayException>(() => Backend(uid: 0).Install(Daemon() with { Scope = InstallScope.User }, start: true));
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
        Assert.Empty(_launchctl.Commands);
    }

    [Fact]
    public void OperationNotPermittedFromLaunchctlNeedsPrivileges()
    {
        Loaded(false);
        _launchctl.When("launchctl bootstrap", 1, stderr: "Bootstrap failed: 1: Operation not permitted\n");

        var e = Assert.Throws<BelayException>(() => Backend().Install(Daemon(), start: true));

        Assert.Equal(ExitCodes.NeedsPrivileges, e.ExitCode);
        Assert.Contains($"launchctl bootstrap system {PlistPath}", e.Message, StringComparison.Ordinal);
        Assert.Contains("Bootstrap failed: 1: Operation not permitted", e.Message, StringComparison.Ordinal);
        Assert.Contains("sudo", e.Message, StringComparison.Ordinal);
        Assert.Empty(_sleeps);
    }

    [Fact]
    public void AnInputOutputErrorIsRetriedOnceThenReportedWithWhereToLook()
    {
        Loaded(false);
        _launchctl.When("launchctl bootstrap", 5, stderr: "Bootstrap failed: 5: Input/output error\nTry re-running the command as root for richer errors.\n");

        var e = Assert.Throws<BelayException>(() => Backend().Install(Daemon(), start: true));

        Assert.Equal(ExitCodes.Error, e.ExitCode);
        Assert.Contains($"launchctl bootstrap system {PlistPath} failed (exit 5)", e.Message, StringComparison.Ordinal);
        Assert.Contains("Input/output error", e.Message, StringComparison.Ordinal);
        Assert.Contains("plutil -lint", e.Message, StringComparison.Ordinal);
        Assert.Contains("launchctl print-disabled system", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, _launchctl.Commands.Count(c => c.StartsWith("launchctl bootstrap", StringComparison.Ordinal)));
        Assert.Equal([TimeSpan.FromSeconds(2)], _sleeps);
    }

    [Fact]
    public void AJobStillDrainingAfterBootoutIsWaitedFor()
    {
        // bootout answers 36 (in progress) and print still finds the job twice more.
        var prints = 0;
        _launchctl.When("launchctl print system/com.belay.agent", _ => ++prints <= 3 ? new ProcessResult(0, RunningPrint, "") : new ProcessResult(113, "", NotFound));
        _launchctl.When("launchctl bootout", 36, stderr: "Boot-out failed: 36: Operation now in progress\n");

        Backend().Install(Daemon(), start: true);

        Assert.Equal(
            [
                Print,
                "launchctl bootout system/com.belay.agent",
                Print, Print, Print,
                "launchctl enable system/com.belay.agent",
                $"launchctl bootstrap system {PlistPath}",
            ],
            _launchctl.Commands);
        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)], _sleeps);
    }

    [Fact]
    public void ABootoutThatFailsAndLeavesTheJobLoadedIsReported()
    {
        Loaded(true);
        _launchctl.When("launchctl bootout", 125, stderr: "Boot-out failed: 125: Domain does not support specified action\n");

        var e = Assert.Throws<BelayException>(() => Backend().Uninstall(Daemon()));

        Assert.Contains("launchctl bootout system/com.belay.agent failed (exit 125)", e.Message, StringComparison.Ordinal);
        Assert.Empty(_sleeps);
    }

    [Fact]
    public void AUserWithoutAGuiSessionIsToldToLogInOrUseTheSystemScope()
    {
        _launchctl.When("launchctl print gui/501/com.belay.agent", 113, stderr: "Could not find domain for user gui: 501\n");

        var e = Assert.Throws<BelayException>(() => Backend(uid: 501).Install(Daemon() with { Scope = InstallScope.User }, start: true));

        Assert.Contains("logged in at the console", e.Message, StringComparison.Ordinal);
        Assert.Contains("--scope system", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StatusOfARunningJobComesFromLaunchctlPrint()
    {
        Loaded(true);

        var status = Backend().Status(Daemon());

        Assert.True(status.Installed);
        Assert.True(status.Running);
        Assert.Equal("running", status.State);
        Assert.Equal("launchctl print system/com.belay.agent; pid 4242; last exit (never exited); log /Library/Logs/Belay/keeper.log", status.Detail);
    }

    [Fact]
    public void StatusOfAJobThatKeepsFailingShowsItsLastExitAndIgnoresNestedStates()
    {
        _launchctl.When(Print, 0, StoppedPrint);

        var status = Backend().Status(Daemon());

        Assert.True(status.Installed);
        Assert.False(status.Running);
        Assert.Equal("not running", status.State);
        Assert.Contains("last exit 78: EX_CONFIG", status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("pid", status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void StatusTellsNotInstalledFromInstalledButNotLoaded()
    {
        Loaded(false);
        Assert.Equal(new ServiceStatus(false, false, "not installed", "belay install --service-manager launchd"), Backend().Status(Daemon()));

        Backend().Install(Daemon(), start: false);
        var status = Backend().Status(Daemon());
        Assert.True(status.Installed);
        Assert.False(status.Running);
        Assert.Equal("not loaded", status.State);
        Assert.Contains("belay start", status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void ParsePrintReadsOnlyTheTopLevelKeys()
    {
        var values = LaunchdBackend.ParsePrint(StoppedPrint);
        Assert.Equal("not running", values["state"]);
        Assert.Equal("/Library/LaunchDaemons/com.belay.agent.plist", values["path"]);
        Assert.Equal("system", values["domain"]);
        Assert.False(values.ContainsKey("com.belay.agent.socket"));
    }

    [Fact]
    public void ADefinitionLaunchdCannotCarryIsAUsageError()
    {
        var e = Assert.Throws<BelayException>(() => Backend().Install(Daemon() with { CommandLine = ["belay", "run"] }, start: true));
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
        Assert.Empty(_launchctl.Commands);
    }

    /// <summary>launchctl print of a running LaunchDaemon, in the shape macOS 13/14 prints it (abridged).</summary>
    private const string RunningPrint = """
        system/com.belay.agent = {
        	active count = 1
        	path = /Library/LaunchDaemons/com.belay.agent.plist
        	type = LaunchDaemon
        	state = running

        	program = /usr/local/belay/bin/belay
        	arguments = {
        		/usr/local/belay/bin/belay
        		run
        		--config
        		/usr/local/belay/etc/config.json
        	}

        	working directory = /usr/local/belay/state

        	stdout path = /Library/Logs/Belay/keeper.log
        	stderr path = /Library/Logs/Belay/keeper.log
        	default environment = {
        		PATH => /usr/bin:/bin:/usr/sbin:/sbin
        	}

        	environment = {
        		XPC_SERVICE_NAME => com.belay.agent
        	}

        	domain = system
        	minimum runtime = 5
        	exit timeout = 30
        	runs = 1
        	pid = 4242
        	immediate reason = speculative
        	forks = 0
        	execs = 1
        	initialized = 1
        	trampolined = 1
        	started suspended = 0
        	proxy started suspended = 0
        	last exit code = (never exited)

        	spawn type = daemon (3)
        	jetsam priority = 4
        	jetsam memory limit (active) = (unlimited)
        	jetsam memory limit (inactive) = (unlimited)
        	jetsamproperties category = daemon
        	submitted job. ignore execute allowed
        	jetsam thread limit = 32
        	cpumon = default
        	job state = running

        	properties = keepalive | runatload | inferred program
        }
        """;

    /// <summary>A job that exits at once with EX_CONFIG and waits out its throttle; a nested block has its own "state".</summary>
    private const string StoppedPrint = """
        system/com.belay.agent = {
        	active count = 0
        	path = /Library/LaunchDaemons/com.belay.agent.plist
        	type = LaunchDaemon
        	state = not running

        	program = /usr/local/belay/bin/belay
        	arguments = {
        		/usr/local/belay/bin/belay
        		run
        	}

        	endpoints = {
        		"com.belay.agent.socket" = {
        			port = 0x1a03
        			active = 0
        			managed = 1
        			reset = 0
        			hide = 0
        			watching = 1
        			state = active
        		}
        	}

        	domain = system
        	minimum runtime = 5
        	exit timeout = 30
        	runs = 14
        	last exit code = 78: EX_CONFIG

        	spawn type = daemon (3)
        	properties = keepalive | runatload | inferred program
        }
        """;
}
