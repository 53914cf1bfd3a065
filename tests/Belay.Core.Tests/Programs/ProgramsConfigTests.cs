using Belay.Core.Programs;

namespace Belay.Core.Tests.Programs;

public sealed class ProgramsConfigTests
{
    private const string Complete = """
        # Belay programs
        [program:web]
        command = /usr/bin/web --port 8080 "--title=a b" 'single $HOME'
        environment = PORT="8080",API_TOKEN="s3,cret"
        directory = /srv/web
        user = www-data
        group = www-data
        restart = on-failure
        autostart = false
        backoff_initial = 500ms
        backoff_max = 30s
        start_timeout = 2
        stop_signal = SIGINT
        stop_timeout = 20s
        priority = 10
        log_max_bytes = 50MB
        log_backups = 3
        redirect_stderr = true
        fatal_after = 4
        fatal_window = 2m

        ; a worker with the defaults and a multi-line environment
        [program:worker]
        command = sh -c 'exec worker >/dev/null'
        environment =
            QUEUE=jobs
            DB_PASSWORD=hunter2
        """;

    [Fact]
    public void EveryKeyOfACompleteConfigIsRead()
    {
        var programs = ProgramsConfig.Parse(Complete, "programs.conf");
        var web = programs[0];
        Assert.Equal("web", web.Name);
        Assert.Equal(["/usr/bin/web", "--port", "8080", "--title=a b", "single $HOME"], web.Command);
        Assert.Equal([new("PORT", "8080"), new("API_TOKEN", "s3,cret")], web.Environment);
        Assert.Equal("/srv/web", web.Directory);
        Assert.Equal("www-data", web.User);
        Assert.Equal("www-data", web.Group);
        Assert.Equal(RestartPolicy.OnFailure, web.Restart);
        Assert.False(web.Autostart);
        Assert.Equal(TimeSpan.FromMilliseconds(500), web.BackoffInitial);
        Assert.Equal(TimeSpan.FromSeconds(30), web.BackoffMax);
        Assert.Equal(TimeSpan.FromSeconds(2), web.StartTimeout);
        Assert.Equal(2, web.StopSignal);
        Assert.Equal(TimeSpan.FromSeconds(20), web.StopTimeout);
        Assert.Equal(10, web.Priority);
        Assert.Equal(50L * 1024 * 1024, web.LogMaxBytes);
        Assert.Equal(3, web.LogBackups);
        Assert.True(web.RedirectStderr);
        Assert.Equal(4, web.FatalAfter);
        Assert.Equal(TimeSpan.FromMinutes(2), web.FatalWindow);
    }

    [Fact]
    public void AnOmittedKeyTakesItsDocumentedDefault()
    {
        var worker = ProgramsConfig.Parse(Complete, "programs.conf")[1];
        Assert.Equal(["sh", "-c", "exec worker >/dev/null"], worker.Command);
        Assert.Equal([new("QUEUE", "jobs"), new("DB_PASSWORD", "hunter2")], worker.Environment);
        Assert.Equal("/", worker.Directory);
        Assert.Null(worker.User);
        Assert.Equal(RestartPolicy.Always, worker.Restart);
        Assert.True(worker.Autostart);
        Assert.Equal(15, worker.StopSignal);
        Assert.Equal(100, worker.Priority);
        Assert.Equal(5, worker.FatalAfter);
        Assert.False(worker.RedirectStderr);
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("yes", true)]
    [InlineData("false", false)]
    [InlineData("no", false)]
    public void RedirectStderrTakesTrueOrFalse(string value, bool expected) =>
        Assert.Equal(expected, ProgramsConfig.Parse($"[program:a]\ncommand = x\nredirect_stderr = {value}", "p")[0].RedirectStderr);

    [Theory]
    [InlineData("[program:a]\ncommand = x\nrestart = sometimes", "programs.conf:3: restart: 'sometimes' is not always, on-failure or never")]
    [InlineData("[program:a]\ncommand = x\nrestrat = always", "programs.conf:3: restrat: unknown setting")]
    [InlineData("[program:a]\n\nrestart = always", "programs.conf:1: command: [program:a] has no command")]
    [InlineData("[program:a]\ncommand = x 'unclosed", "programs.conf:2: command: the single quote")]
    [InlineData("command = x", "programs.conf:1: a setting outside any [program:NAME] section")]
    [InlineData("[supervisord]", "programs.conf:1: [supervisord] is not a section Belay knows")]
    [InlineData("[program:a]\ncommand = x\n[program:a]\ncommand = y", "programs.conf:3: program 'a' is already defined on line 1")]
    [InlineData("[program:agent]\ncommand = x", "programs.conf:1: 'agent' is reserved")]
    [InlineData("[program:a b]\ncommand = x", "programs.conf:1: 'a b' is not a program name")]
    [InlineData("[program:a]\ncommand = x\ncommand = y", "programs.conf:3: command: set twice in [program:a] (first on line 2)")]
    [InlineData("[program:a]\ncommand = x\nbackoff_initial = soon", "programs.conf:3: backoff_initial: 'soon' is not a positive duration")]
    [InlineData("[program:a]\ncommand = x\nbackoff_initial = 10s\nbackoff_max = 5s", "programs.conf:4: backoff_max: 5s is shorter than backoff_initial (10s)")]
    [InlineData("[program:a]\ncommand = x\nstop_signal = STOP", "programs.conf:3: stop_signal: 'STOP' is not a signal name")]
    [InlineData("[program:a]\ncommand = x\nlog_max_bytes = 10 parsecs", "programs.conf:3: log_max_bytes: '10 parsecs' is not a size")]
    [InlineData("[program:a]\ncommand = x\nfatal_after = 0", "programs.conf:3: fatal_after: '0' is not a whole number from 1 to 10000")]
    [InlineData("[program:a]\ncommand = x\ndirectory = srv", "programs.conf:3: directory: 'srv' is not an absolute path")]
    [InlineData("[program:a]\ncommand = x\npassword_file = /etc/pw", "programs.conf:3: password_file: is the password of user's account, and there is no user")]
    [InlineData("[program:a]\ncommand = x\nuser = u\npassword_file = pw", "programs.conf:4: password_file: 'pw' is not an absolute path")]
    [InlineData("[program:a]\ncommand = x\nenvironment = A=1,\n  2B=3", "programs.conf:3: environment: '2B' is not a variable name")]
    [InlineData("[program:a]\ncommand = x\nenvironment = A=\"open", "programs.conf:3: environment: A: the quote \" is not closed")]
    [InlineData("[program:a]\ncommand = x\nautostart = maybe", "programs.conf:3: autostart: 'maybe' is not true or false")]
    [InlineData("[program:a]\ncommand = x\n\nredirect_stderr = 1", "programs.conf:4: redirect_stderr: '1' is not true or false")]
    [InlineData("[program:a]\ncommand = x\nredirect_stderr = true\nredirect_stderr = false", "programs.conf:4: redirect_stderr: set twice in [program:a] (first on line 3)")]
    [InlineData("[program:a]\ncommand = x\n[program:web.err]\ncommand = y", "programs.conf:3: 'web.err' ends in .err, which names stderr files (program web writes its stderr to web.err.log)")]
    public void AnErrorNamesTheFileTheLineAndTheField(string text, string expected)
    {
        var e = Assert.Throws<ProgramsConfigException>(() => ProgramsConfig.Parse(text, "programs.conf"));
        Assert.StartsWith(expected, e.Message, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
    }

    [Fact]
    public void APasswordFileGoesWithUser()
    {
        var a = ProgramsConfig.Parse("[program:a]\ncommand = x\nuser = CORP\\svc\npassword_file = /etc/belay/svc.password", "p")[0];
        Assert.Equal(@"CORP\svc", a.User);
        Assert.Equal("/etc/belay/svc.password", a.PasswordFile);
        Assert.Null(ProgramsConfig.Parse("[program:a]\ncommand = x\nuser = u", "p")[0].PasswordFile);
    }

    [Fact]
    public void AMissingFileIsAnEmptyConfig()
    {
        Assert.Empty(ProgramsConfig.Load(Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), "programs.conf")));
    }

    [Fact]
    public void TheHashChangesWithWhatTheProcessIsMadeFromAndNothingElse()
    {
        var a = ProgramsConfig.Parse("[program:a]\ncommand = x 1\nenvironment = K=v", "p")[0];
        Assert.Equal(a.Hash, (a with { Restart = RestartPolicy.Never, Priority = 5, LogBackups = 1, StopTimeout = TimeSpan.FromSeconds(3) }).Hash);
        Assert.NotEqual(a.Hash, (a with { Command = ["x", "2"] }).Hash);
        Assert.NotEqual(a.Hash, (a with { Environment = [new("K", "w")] }).Hash);
        Assert.NotEqual(a.Hash, (a with { User = "nobody" }).Hash);
        Assert.NotEqual((a with { User = "nobody" }).Hash, (a with { User = "nobody", PasswordFile = "/pw" }).Hash);
        Assert.NotEqual(a.Hash, (a with { Directory = "/tmp" }).Hash);
        // Word boundaries count: "x 1" is not "x1".
        Assert.NotEqual(a.Hash, (a with { Command = ["x1"] }).Hash);
        // Where stderr goes is set at exec: changing it restarts the program.
        Assert.NotEqual(a.Hash, (a with { RedirectStderr = true }).Hash);
    }

    [Fact]
    public void AProgramWithOwnStderrKeepsTheHashOfAgentsBeforeSeparateStderrSoAnUpdateAdoptsIt()
    {
        // The value agents computed before redirect_stderr existed (sha256 of the same definition text, first 16 hex digits).
        var a = ProgramsConfig.Parse("[program:a]\ncommand = x 1\nenvironment = K=v", "p")[0];
        Assert.False(a.RedirectStderr);
        Assert.Equal("726328e56534143a", a.Hash);
    }
}
