using System.Diagnostics;
using System.Globalization;
using Belay.EndToEnd.Tests.Install;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Programs;

/// <summary>
/// What a failed agent version started goes with it: each try of a release whose agent starts a
/// child and then exits, or hangs, ends with that child gone (the keeper kills the agent's process
/// group), while a supervised program, which must survive agent updates, keeps running throughout;
/// and a clean stop of the keeper writes no exception to its log.
/// </summary>
public sealed class AgentLeftoverTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public void EveryTryOfAFailedReleaseEndsWithWhatItStartedGoneAndProgramsKeepRunning()
    {
        using var host = new ProgramsHost("""
            [program:steady]
            command = sleep 1000
            """);
        var steady = ProgramsHost.Pid(host.WaitForProgram("steady", p => ProgramsHost.State(p) == "running", Wait, "running"));
        var children = Path.Combine(host.Scratch, "children");

        // 1.1.0 starts a child and exits 1: three tries, three children, then a rollback.
        host.Host.PublishScript("1.1.0", $"sleep 1000 & echo $! >> '{children}'\nexit 1");
        host.Host.WaitFor(s => InstalledHost.Bad(s).Contains("1.1.0") && InstalledHost.On(s, "1.0.0"), Wait, "1.1.0 rolled back");
        AssertAllGone(children, 3, host);

        // 1.2.0 starts two children and hangs: each try is killed at its deadline, with its children.
        host.Host.PublishScript("1.2.0", $"sleep 1000 & echo $! >> '{children}'\nsh -c 'sleep 1000' & echo $! >> '{children}'\nwait");
        host.Host.WaitFor(s => InstalledHost.Bad(s).Contains("1.2.0") && InstalledHost.On(s, "1.0.0"), Wait, "1.2.0 rolled back");
        AssertAllGone(children, 3 + 6, host);

        var program = host.Program("steady");
        Assert.Equal("running", ProgramsHost.State(program));
        Assert.Equal(steady, ProgramsHost.Pid(program));
        Assert.True(ExternalTool.IsRunning(steady));

        var uninstall = host.Belay("uninstall", "--purge");
        Assert.True(uninstall.ExitCode == 0, uninstall.ToString());
        Assert.False(ExternalTool.IsRunning(steady), "the program outlived the uninstall");
        AssertAllGone(children, 9, host);
    }

    [Fact]
    public void StoppingTheKeeperAgainAndAgainWritesNoExceptionToItsLog()
    {
        using var host = new InstalledHost();
        host.PublishAgent("1.0.0");
        var install = host.Install();
        Assert.True(install.ExitCode == 0, install + host.ReadLog());
        for (var i = 0; i < 8; i++)
        {
            var stop = Belay(host, "service", "stop");
            Assert.True(stop.ExitCode == 0, stop.ToString());
            var start = Belay(host, "service", "start");
            Assert.True(start.ExitCode == 0, start.ToString());
            host.WaitFor(s => InstalledHost.On(s, "1.0.0"), Wait, $"running again after stop {i + 1}");
        }
        var uninstall = Belay(host, "uninstall");
        Assert.True(uninstall.ExitCode == 0, uninstall.ToString());
        var log = host.ReadLog();
        Assert.True(Count(log, "keeper stopped") >= 9, log);
        Assert.DoesNotContain("Exception", log, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled", log, StringComparison.Ordinal);
    }

    private static ToolResult Belay(InstalledHost host, params string[] args) =>
        InstalledHost.Belay([.. args, "--prefix", host.Prefix, "--scope", "user"]);

    private static int Count(string text, string what) => text.Split(what).Length - 1;

    /// <summary>Every pid written to <paramref name="file"/> (there must be <paramref name="expected"/>) is gone within a few seconds.</summary>
    private static void AssertAllGone(string file, int expected, ProgramsHost host)
    {
        var pids = File.ReadAllLines(file).Where(l => l.Length > 0).Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToList();
        Assert.True(pids.Count == expected, $"{pids.Count} children recorded, expected {expected}");
        var watch = Stopwatch.StartNew();
        while (pids.Any(ExternalTool.IsRunning) && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            Thread.Sleep(100);
        }
        var left = pids.Where(ExternalTool.IsRunning).ToList();
        Assert.True(left.Count == 0, $"left running by the failed agent: {string.Join(", ", left)}\nKeeper log:\n{host.Host.ReadLog()}");
    }
}
