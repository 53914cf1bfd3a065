using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Programs;

/// <summary>
/// What supervisorctl users expect of the program commands: `all` for every program, several
/// names at once, `belay logs` merging every program's log, and a command that does not exist
/// reported as a spawn error (status, start and reload), not as a program that started.
/// </summary>
public sealed class ProgramControlTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private const string TwoTalkers = """
        [program:alpha]
        command = sh -c 'while :; do echo "alpha says $$"; sleep 0.2; done'
        stop_timeout = 2s

        [program:beta]
        command = sh -c 'while :; do echo "beta says $$"; sleep 0.2; done'
        stop_timeout = 2s
        """;

    [Fact]
    public void AllStopsStartsAndRestartsEveryProgramAndLogsMergesThemLineByLine()
    {
        using var host = new ProgramsHost(TwoTalkers);
        var alpha = ProgramsHost.Pid(host.WaitForProgram("alpha", p => ProgramsHost.State(p) == "running", Wait, "running"));
        var beta = ProgramsHost.Pid(host.WaitForProgram("beta", p => ProgramsHost.State(p) == "running", Wait, "running"));
        for (var i = 0; i < 100 && !(host.ReadProgramLog("alpha").Contains('\n', StringComparison.Ordinal) && host.ReadProgramLog("beta").Contains('\n', StringComparison.Ordinal)); i++)
        {
            Thread.Sleep(100);
        }

        // No name: every program, each line whole behind its program's name.
        var merged = host.Belay("logs", "-n", "2");
        Assert.True(merged.ExitCode == 0, merged.ToString());
        var lines = merged.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.Equal(2, lines.Count(l => l.StartsWith("alpha | alpha says ", StringComparison.Ordinal)));
        Assert.Equal(2, lines.Count(l => l.StartsWith("beta  | beta says ", StringComparison.Ordinal)));

        // Several names: the same, for those; the keeper's log too.
        var two = host.Belay("logs", "beta", "keeper", "-n", "1");
        Assert.True(two.ExitCode == 0, two.ToString());
        Assert.Contains("beta   | beta says ", two.StdOut, StringComparison.Ordinal);
        Assert.Contains("keeper | ", two.StdOut, StringComparison.Ordinal);

        var stop = host.Belay("stop", "all");
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.Equal("stopped", ProgramsHost.State(host.Program("alpha")));
        Assert.Equal("stopped", ProgramsHost.State(host.Program("beta")));
        Assert.False(ExternalTool.IsRunning(alpha));
        Assert.False(ExternalTool.IsRunning(beta));

        var start = host.Belay("start", "all");
        Assert.True(start.ExitCode == 0, start.ToString());
        var alpha2 = ProgramsHost.Pid(host.WaitForProgram("alpha", p => ProgramsHost.State(p) is "running" or "starting", Wait, "started"));
        var beta2 = ProgramsHost.Pid(host.WaitForProgram("beta", p => ProgramsHost.State(p) is "running" or "starting", Wait, "started"));

        var restart = host.Belay("restart", "alpha", "beta");
        Assert.True(restart.ExitCode == 0, restart.ToString());
        Assert.NotEqual(alpha2, ProgramsHost.Pid(host.WaitForProgram("alpha", p => ProgramsHost.Pid(p) is > 0 && ProgramsHost.Pid(p) != alpha2, Wait, "restarted")));
        Assert.NotEqual(beta2, ProgramsHost.Pid(host.WaitForProgram("beta", p => ProgramsHost.Pid(p) is > 0 && ProgramsHost.Pid(p) != beta2, Wait, "restarted")));
    }

    [Fact]
    public void ACommandThatDoesNotExistIsASpawnErrorNotAStart()
    {
        const string Fine = """
            [program:fine]
            command = sleep 1000
            """;
        using var host = new ProgramsHost(Fine);
        var fine = ProgramsHost.Pid(host.WaitForProgram("fine", p => ProgramsHost.State(p) == "running", Wait, "running"));

        host.WriteConfig(Fine + """


            [program:ghost]
            command = /nonexistent/ghost --serve
            """);
        var reload = host.Belay("reload");
        Assert.True(reload.ExitCode == 1, reload.ToString());
        Assert.Contains("ghost: spawn error: /nonexistent/ghost: not found", reload.StdErr, StringComparison.Ordinal);

        var ghost = host.Program("ghost");
        Assert.Equal("fatal", ProgramsHost.State(ghost));
        Assert.Equal("spawn error: /nonexistent/ghost: not found", ghost.GetProperty("lastExit").GetString());
        Assert.Contains("spawn error: /nonexistent/ghost: not found", host.Belay("status").StdOut, StringComparison.Ordinal);

        var start = host.Belay("start", "ghost");
        Assert.True(start.ExitCode == 1, start.ToString());
        Assert.Contains("spawn error: /nonexistent/ghost: not found", start.StdErr, StringComparison.Ordinal);

        // The rest of the config was applied and runs on.
        Assert.Equal(fine, ProgramsHost.Pid(host.Program("fine")));
    }
}
