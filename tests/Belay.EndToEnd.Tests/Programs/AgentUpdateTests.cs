using System.Globalization;
using Belay.EndToEnd.Tests.Install;

namespace Belay.EndToEnd.Tests.Programs;

/// <summary>
/// The headline: the agent updates itself while a program runs and writes a numbered line
/// every 50 ms; the program is never restarted and no line is lost or doubled. Ten updates
/// by default; BELAY_SOAK_UPDATES=N runs N (a longer soak).
/// </summary>
public sealed class AgentUpdateTests
{
    [Fact]
    public void TenAgentUpdatesRestartNoProgramAndLoseNoLogLine()
    {
        var updates = int.TryParse(Environment.GetEnvironmentVariable("BELAY_SOAK_UPDATES"), CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 10;
        using var host = new ProgramsHost("""
            [program:counter]
            command = sh -c 'i=0; while :; do i=$((i+1)); echo "$i"; sleep 0.05; done'
            """);
        var first = host.WaitForProgram("counter", p => ProgramsHost.State(p) == "running", TimeSpan.FromSeconds(20), "running");
        var pid = ProgramsHost.Pid(first);
        for (var u = 1; u <= updates; u++)
        {
            var version = $"1.0.{u}";
            host.Host.PublishAgent(version);
            var status = host.Host.WaitFor(s => InstalledHost.On(s, version), TimeSpan.FromSeconds(40), $"on {version}");
            var program = ProgramsHost.Program(status, "counter");
            Assert.True(ProgramsHost.Pid(program) == pid, $"after the update to {version} the program has pid {ProgramsHost.Pid(program)}, not {pid}\n{host.ReadAgentLog()}");
        }
        Thread.Sleep(500);
        var last = host.Program("counter");
        Assert.Equal("running", ProgramsHost.State(last));
        Assert.Equal(pid, ProgramsHost.Pid(last));
        Assert.Equal(0, last.GetProperty("restarts").GetInt32());
        Assert.True(Process(pid), "the program's process is gone");

        // Ten agents, one program: every number from 1 on, once, in order.
        var numbers = host.ReadProgramLog("counter").Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => long.Parse(l, CultureInfo.InvariantCulture)).ToList();
        var agents = host.ReadAgentLog().Split('\n').Count(l => l.Contains("adopted counter (pid " + pid + ",", StringComparison.Ordinal));
        Assert.Equal(updates, agents);
        Assert.True(numbers.Count > 20 * updates, $"only {numbers.Count} lines");
        for (var i = 0; i < numbers.Count; i++)
        {
            Assert.True(numbers[i] == i + 1, $"line {i + 1} of the log is {numbers[i]}: lines lost or doubled");
        }
    }

    private static bool Process(int pid) => Belay.TestSupport.ExternalTool.IsRunning(pid);
}
