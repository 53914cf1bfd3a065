using Belay.Core.Deploy;
using Belay.Core.Programs;
using Belay.TestSupport;

namespace Belay.Core.Tests.Deploy;

public sealed class AppConfigTests
{
    private const string Complete = """
        # shop 2.7.1
        [app]
        exec = bin/shop --port 8080 "--title=a b"
        environment = MODE=prod,
            WORKERS=4
        directory = var
        user = shop
        group = shop
        restart = on-failure
        backoff_initial = 500ms
        backoff_max = 30s
        start_timeout = 2
        stop_signal = SIGINT
        stop_timeout = 20s
        keep_releases = 5
        log_max_bytes = 50MB
        log_backups = 3
        redirect_stderr = true
        fatal_after = 4
        fatal_window = 2m

        [hooks]
        timeout = 1m
        pre_install = hooks/pre_install.sh
        post_install = hooks/migrate.sh --quick
        post_install_timeout = 10m
        pre_start = hooks/pre_start.sh
        post_start = hooks/post_start.sh
        pre_stop = hooks/pre_stop.sh
        post_stop = hooks/post_stop.sh
        uninstall = hooks/uninstall.sh

        [health]
        http = http://127.0.0.1:8080/health
        interval = 1s
        timeout = 3s
        healthy_for = 5s
        deadline = 1m
        """;

    [Fact]
    public void EveryKeyOfACompleteFileIsRead()
    {
        var c = AppConfig.Parse(Complete, "belay-app.conf");
        Assert.Equal(["bin/shop", "--port", "8080", "--title=a b"], c.Exec);
        Assert.Equal(3, c.ExecLine);
        Assert.Equal([new("MODE", "prod"), new("WORKERS", "4")], c.Environment);
        Assert.Equal("var", c.Directory);
        Assert.Equal("shop", c.User);
        Assert.Equal("shop", c.Group);
        Assert.Equal(RestartPolicy.OnFailure, c.Restart);
        Assert.Equal(TimeSpan.FromMilliseconds(500), c.BackoffInitial);
        Assert.Equal(TimeSpan.FromSeconds(30), c.BackoffMax);
        Assert.Equal(TimeSpan.FromSeconds(2), c.StartTimeout);
        Assert.Equal(2, c.StopSignal);
        Assert.Equal(TimeSpan.FromSeconds(20), c.StopTimeout);
        Assert.Equal(5, c.KeepReleases);
        Assert.Equal(50L * 1024 * 1024, c.LogMaxBytes);
        Assert.Equal(3, c.LogBackups);
        Assert.True(c.RedirectStderr);
        Assert.Equal(4, c.FatalAfter);
        Assert.Equal(TimeSpan.FromMinutes(2), c.FatalWindow);

        Assert.Equal(Enum.GetValues<HookKind>(), c.Hooks.Keys.Order());
        Assert.Equal(["hooks/migrate.sh", "--quick"], c.Hook(HookKind.PostInstall)!.Command);
        Assert.Equal(TimeSpan.FromMinutes(10), c.Hook(HookKind.PostInstall)!.Timeout);
        Assert.Equal(TimeSpan.FromMinutes(1), c.Hook(HookKind.PreStart)!.Timeout);
        Assert.Equal(24, c.Hook(HookKind.PreInstall)!.Line);

        Assert.Equal(HealthKind.Http, c.Health.Kind);
        Assert.Equal("http://127.0.0.1:8080/health", c.Health.Target);
        Assert.Equal(TimeSpan.FromSeconds(1), c.Health.Interval);
        Assert.Equal(TimeSpan.FromSeconds(3), c.Health.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(5), c.Health.HealthyFor);
        Assert.Equal(TimeSpan.FromMinutes(1), c.Health.Deadline);
    }

    [Fact]
    public void AnOmittedKeyTakesItsDocumentedDefault()
    {
        var c = AppConfig.Parse("[app]\nexec = python3 app.py", "belay-app.conf");
        Assert.Equal(["python3", "app.py"], c.Exec);
        Assert.Equal(".", c.Directory);
        Assert.Null(c.User);
        Assert.Equal(RestartPolicy.Always, c.Restart);
        Assert.Equal(15, c.StopSignal);
        Assert.Equal(TimeSpan.FromSeconds(10), c.StopTimeout);
        Assert.Equal(3, c.KeepReleases);
        Assert.Empty(c.Hooks);
        Assert.Equal(HealthKind.Process, c.Health.Kind);
        Assert.Equal(TimeSpan.FromSeconds(2), c.Health.Interval);
        Assert.Equal(TimeSpan.FromSeconds(5), c.Health.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(10), c.Health.HealthyFor);
        Assert.Equal(TimeSpan.FromMinutes(2), c.Health.Deadline);
        var hooked = AppConfig.Parse("[app]\nexec = x\n[hooks]\npost_install = setup", "belay-app.conf");
        Assert.Equal(AppConfig.DefaultHookTimeout, hooked.Hook(HookKind.PostInstall)!.Timeout);
        Assert.Equal(TimeSpan.FromMinutes(5), AppConfig.DefaultHookTimeout);
    }

    [Theory]
    [InlineData("tcp = 127.0.0.1:8080", HealthKind.Tcp, "127.0.0.1:8080")]
    [InlineData("tcp = [::1]:80", HealthKind.Tcp, "[::1]:80")]
    [InlineData("command = bin/check --deep", HealthKind.Command, "")]
    [InlineData("healthy_for = 0", HealthKind.Process, "")]
    public void TheHealthSectionTakesOneProbe(string line, HealthKind kind, string target)
    {
        var c = AppConfig.Parse($"[app]\nexec = x\n[health]\n{line}", "belay-app.conf");
        Assert.Equal(kind, c.Health.Kind);
        Assert.Equal(target, c.Health.Target);
    }

    [Theory]
    [InlineData("[app]\nexec = x\nrestrat = always", "belay-app.conf:3: restrat: unknown setting in [app] (known: exec, environment,")]
    [InlineData("[app]\nexec = x\n[hooks]\npre_instal = a.sh", "belay-app.conf:4: pre_instal: unknown setting in [hooks] (known: pre_install, post_install,")]
    [InlineData("[app]\nexec = x\n[health]\nurl = http://x/", "belay-app.conf:4: url: unknown setting in [health] (known: http, tcp, command,")]
    [InlineData("[app]\nstop_signal = TERM", "belay-app.conf:1: exec: [app] has no exec")]
    [InlineData("[hooks]\npre_install = a.sh", "belay-app.conf:1: no [app] section")]
    [InlineData("exec = x", "belay-app.conf:1: a setting outside any section")]
    [InlineData("[program:x]\ncommand = y", "belay-app.conf:1: [program:x] is not a section of belay-app.conf")]
    [InlineData("[app]\nexec = x\n[app]\nexec = y", "belay-app.conf:3: [app] is already on line 1")]
    [InlineData("[app]\nexec = x\nexec = y", "belay-app.conf:3: exec: set twice in [app] (first on line 2)")]
    [InlineData("[app]\nexec = x 'open", "belay-app.conf:2: exec: the single quote")]
    [InlineData("[app]\nexec = ../other/bin", "belay-app.conf:2: exec: '../other/bin' leaves the release folder")]
    [InlineData("[app]\nexec = x\ndirectory = /srv", "belay-app.conf:3: directory: '/srv' is not a folder inside the release")]
    [InlineData("[app]\nexec = x\nkeep_releases = 0", "belay-app.conf:3: keep_releases: '0' is not a whole number from 1 to 1000")]
    [InlineData("[app]\nexec = x\nstop_timeout = soon", "belay-app.conf:3: stop_timeout: 'soon' is not a positive duration")]
    [InlineData("[app]\nexec = x\nstop_signal = STOP", "belay-app.conf:3: stop_signal: 'STOP' is not a signal name")]
    [InlineData("[app]\nexec = x\n[hooks]\npost_install = /usr/bin/migrate", "belay-app.conf:4: post_install: '/usr/bin/migrate' is not a path inside the release")]
    [InlineData("[app]\nexec = x\n[hooks]\npost_install = hooks/../../etc/x", "belay-app.conf:4: post_install: 'hooks/../../etc/x' is not a path inside the release")]
    [InlineData("[app]\nexec = x\n[hooks]\npre_start_timeout = 1m", "belay-app.conf:4: pre_start_timeout: a timeout for a hook that is not set")]
    [InlineData("[app]\nexec = x\n[hooks]\npre_start = a.sh\npre_start_timeout = 0", "belay-app.conf:5: pre_start_timeout: '0' is not a positive duration")]
    [InlineData("[app]\nexec = x\n[health]\nhttp = http://x/\ntcp = x:1", "belay-app.conf:5: tcp: [health] takes one of http, tcp or command, not http and tcp")]
    [InlineData("[app]\nexec = x\n[health]\nhttp = ftp://x/", "belay-app.conf:4: http: 'ftp://x/' is not an http:// or https:// URL")]
    [InlineData("[app]\nexec = x\n[health]\ntcp = localhost", "belay-app.conf:4: tcp: 'localhost' is not HOST:PORT")]
    [InlineData("[app]\nexec = x\n[health]\ntcp = localhost:70000", "belay-app.conf:4: tcp: 'localhost:70000' is not HOST:PORT")]
    [InlineData("[app]\nexec = x\n[health]\nhealthy_for = 2m\ndeadline = 1m", "belay-app.conf:5: deadline: 1m is shorter than healthy_for (120s)")]
    [InlineData("[app]\nexec = x\nenvironment = 2X=1", "belay-app.conf:3: environment: '2X' is not a variable name")]
    public void AnErrorNamesTheFileTheLineAndTheKey(string text, string expected)
    {
        var e = Assert.Throws<AppConfigException>(() => AppConfig.Parse(text, "belay-app.conf"));
        Assert.StartsWith(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingFileSaysWhatAnArchiveMustCarry()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<AppConfigException>(() => AppConfig.Load(dir.Path));
        Assert.Contains("belay-app.conf: missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckingAReleaseFindsAHookThatIsMissingOrNotExecutable()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.Combine("bin"));
        Directory.CreateDirectory(dir.Combine("hooks"));
        File.WriteAllText(dir.Combine("bin", "shop"), "#!/bin/sh\n");
        File.SetUnixFileMode(dir.Combine("bin", "shop"), (UnixFileMode)0b111_101_101);
        File.WriteAllText(dir.Combine("hooks", "pre_start.sh"), "#!/bin/sh\n");
        var c = AppConfig.Parse("[app]\nexec = bin/shop\n[hooks]\npre_start = hooks/pre_start.sh\npost_start = hooks/post_start.sh", dir.Combine("belay-app.conf"));
        Assert.Equal(
            [
                $"{dir.Combine("belay-app.conf")}:4: pre_start: hooks/pre_start.sh is not executable (chmod +x it before packaging)",
                $"{dir.Combine("belay-app.conf")}:5: post_start: hooks/post_start.sh is not in the release",
            ],
            c.CheckRelease(dir.Path));
        File.SetUnixFileMode(dir.Combine("hooks", "pre_start.sh"), (UnixFileMode)0b111_101_101);
        File.Copy(dir.Combine("hooks", "pre_start.sh"), dir.Combine("hooks", "post_start.sh"));
        Assert.Empty(c.CheckRelease(dir.Path));
    }

    [Fact]
    public void AReleaseForWindowsNeedsHooksWindowsCanRunAndNoExecutableBit()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.Combine("bin"));
        Directory.CreateDirectory(dir.Combine("hooks"));
        File.WriteAllText(dir.Combine("bin", "shop.exe"), "MZ");
        File.WriteAllText(dir.Combine("hooks", "pre_start.sh"), "#!/bin/sh\n");
        File.WriteAllText(dir.Combine("hooks", "post_start.cmd"), "@exit /b 0\r\n");
        File.WriteAllText(dir.Combine("hooks", "health.ps1"), "exit 0\r\n");
        var c = AppConfig.Parse("[app]\nexec = bin/shop.exe\n[hooks]\npre_start = hooks/pre_start.sh\npost_start = hooks/post_start.cmd\n[health]\ncommand = hooks/health.ps1",
            dir.Combine("belay-app.conf"));
        Assert.Equal(
            [$"{dir.Combine("belay-app.conf")}:4: pre_start: hooks/pre_start.sh cannot run on Windows (a hook or health command there is a .exe, .com, .cmd, .bat or .ps1 file)"],
            c.CheckRelease(dir.Path, forWindows: true));
    }

    [Fact]
    public void APathInsideTheReleaseIsMadeAbsoluteAndABareNameIsLeftForPath()
    {
        Assert.Equal(["/r/bin/shop", "-v"], AppConfig.ResolveCommand(["bin/shop", "-v"], "/r"));
        Assert.Equal(["/r/./shop"], AppConfig.ResolveCommand(["./shop"], "/r"));
        Assert.Equal(["python3", "app.py"], AppConfig.ResolveCommand(["python3", "app.py"], "/r"));
        Assert.Equal(["/usr/bin/env"], AppConfig.ResolveCommand(["/usr/bin/env"], "/r"));
        var hook = new AppHook(HookKind.PreStart, ["setup", "--now"], TimeSpan.FromMinutes(1), 3);
        Assert.Equal(["/r/setup", "--now"], AppConfig.ResolveHook(hook, "/r"));
    }

    [Theory]
    [InlineData("http://127.0.0.1:${PORT}/health", "http://127.0.0.1:8080/health")]
    [InlineData("${HOST}:${PORT}", "db:8080")]
    [InlineData("${UNKNOWN}:${PORT}", "${UNKNOWN}:8080")]
    [InlineData("$${PORT}", "$8080")]
    [InlineData("${PORT", "${PORT")]
    [InlineData("${9X}${PORT}", "${9X}8080")]
    [InlineData("${}x", "${}x")]
    [InlineData("no variables", "no variables")]
    public void ATargetTakesPlainVariables(string target, string expanded) =>
        Assert.Equal(expanded, AppConfig.Expand(target, new Dictionary<string, string> { ["PORT"] = "8080", ["HOST"] = "db" }));
}
