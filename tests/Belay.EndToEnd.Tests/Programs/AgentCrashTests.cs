using System.Diagnostics;
using System.Text.Json;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Programs;

/// <summary>Programs outlive an agent that crashes; the keeper reaps one that ends meanwhile and tells the next agent how.</summary>
public sealed class AgentCrashTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private static int AgentPid(JsonElement status) =>
        status.GetProperty("agent").GetProperty("pid") is { ValueKind: JsonValueKind.Number } p ? p.GetInt32() : 0;

    [Fact]
    public void AProgramSurvivesAnAgentCrashAndOneThatEndsMeanwhileIsReapedWithItsExitStatus()
    {
        using var host = new ProgramsHost("""
            [program:survivor]
            command = sleep 1000

            [program:victim]
            command = sleep 1001
            """);
        var survivor = ProgramsHost.Pid(host.WaitForProgram("survivor", p => ProgramsHost.State(p) == "running", Wait, "running"));
        var victim = ProgramsHost.Pid(host.WaitForProgram("victim", p => ProgramsHost.State(p) == "running", Wait, "running"));
        var agent = AgentPid(host.Host.WaitFor(s => AgentPid(s) > 0, Wait, "agent running"));

        // The agent dies without a word; while no agent runs, one program is killed.
        Assert.Equal(0, ExternalTool.Run("kill", ["-9", agent.ToString(System.Globalization.CultureInfo.InvariantCulture)]).ExitCode);
        Assert.Equal(0, ExternalTool.Run("kill", ["-9", victim.ToString(System.Globalization.CultureInfo.InvariantCulture)]).ExitCode);

        host.Host.WaitFor(s => AgentPid(s) is var p && p > 0 && p != agent && s.GetProperty("agent").GetProperty("ready").GetBoolean(), Wait, "a new agent");
        var restarted = host.WaitForProgram("victim", p => ProgramsHost.State(p) == "running" && ProgramsHost.Pid(p) != victim, Wait, "restarted by the new agent");
        Assert.Equal("signal 9", restarted.GetProperty("lastExit").GetString());
        Assert.Equal(1, restarted.GetProperty("restarts").GetInt32());
        Assert.Contains($"program victim (pid {victim}) ended while no agent was its parent: signal 9", host.Host.ReadLog(), StringComparison.Ordinal);

        var kept = host.Program("survivor");
        Assert.Equal(survivor, ProgramsHost.Pid(kept));
        Assert.Equal(0, kept.GetProperty("restarts").GetInt32());
        Assert.False(ExternalTool.IsRunning(victim));
    }

    [Fact]
    public void UninstallStopsEveryProgramAndItsChildren()
    {
        using var host = new ProgramsHost("""
            [program:family]
            command = sh -c 'sleep 1000 & sleep 1001 & wait'
            """);
        var pid = ProgramsHost.Pid(host.WaitForProgram("family", p => ProgramsHost.State(p) == "running", Wait, "running"));
        var children = ExternalTool.Run("pgrep", ["-g", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]).StdOut
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
        Assert.Equal(3, children.Count);
        var watch = Stopwatch.StartNew();
        var uninstall = host.Belay("uninstall");
        Assert.True(uninstall.ExitCode == 0, uninstall.ToString());
        Assert.All(children, c => Assert.False(ExternalTool.IsRunning(c), $"{c} survived the uninstall"));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"uninstall took {watch.Elapsed}");
    }
}
