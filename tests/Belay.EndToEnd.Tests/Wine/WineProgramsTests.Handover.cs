using System.Globalization;
using System.Text.RegularExpressions;
using Belay.EndToEnd.Tests.Release;
using Belay.TestSupport;
using static Belay.EndToEnd.Tests.Wine.WineWaits;

namespace Belay.EndToEnd.Tests.Wine;

public sealed partial class WineProgramsTests
{
    /// <summary>
    /// An agent update under Wine: the old agent hands its programs to the keeper (copies of their jobs,
    /// processes and pipes' read ends) and the new one takes them back. The program keeps its pid, and
    /// its numbered lines reach its log each exactly once, from before, during and after the switch.
    /// </summary>
    [Fact]
    public void A_program_keeps_running_through_an_agent_update_and_no_line_of_its_output_is_lost_or_doubled()
    {
        using var installed = new InstalledService();
        var (ws, wine, exe) = (installed.Workspace, installed.Wine, installed.Exe);
        File.WriteAllText(wine.OnLinux(DataRoot + @"\etc\programs.conf"), """
            [program:count]
            command = 'C:\tools\winprog.exe' count
            """);

        var start = wine.Run("sc", "start", "Belay");
        Assert.True(start.ExitCode == 0, start.ToString());
        wine.WaitForState("Belay", 4, TimeSpan.FromSeconds(90));
        var before = WaitFor(wine, exe, p => p.TryGetValue("count", out var c) && c is { State: "running", Live: true, Pid: > 0 });
        var pid = before["count"].Pid!.Value;
        Eventually(() => CountLines(wine).Count >= 50, "count.log has its first 50 lines");

        // The update: 1.1.0 in the feed; the agent finds it at its next check (every 10 s), stages it and asks the keeper
        // to switch; the keeper asks the agent to hand over (HANDOVER on its channel), starts 1.1.0, and commits it
        // once it reports ready. (`belay update` would do the same, but under Wine it cannot tell that the keeper runs.)
        WindowsBuild.PublishAgent(ws, "1.1.0");
        Until(() => wine.Run(exe, "status", "--json"), r =>
        {
            if (r.ExitCode != 0)
            {
                return false;
            }
            using var doc = System.Text.Json.JsonDocument.Parse(r.StdOut);
            var root = doc.RootElement;
            return root.GetProperty("current").GetString() == "1.1.0" && (!root.TryGetProperty("trial", out var trial) || trial.ValueKind == System.Text.Json.JsonValueKind.Null)
                && root.GetProperty("agent").GetProperty("ready").GetBoolean();
        }, "1.1.0 is current and its agent ready");

        // The same process, supervised by the new agent, and still writing into its log.
        var after = WaitFor(wine, exe, p => p.TryGetValue("count", out var c) && c is { State: "running", Live: true });
        Assert.Equal(pid, after["count"].Pid);
        Assert.Equal(0, after["count"].Restarts);
        var keeperLog = ReadShared(wine.OnLinux(DataRoot + @"\logs\keeper.log"));
        Assert.Contains("started agent 1.1.0", keeperLog, StringComparison.Ordinal);
        var agentLog = ReadShared(wine.OnLinux(DataRoot + @"\logs\agent.log"));
        Assert.Contains("stopping (handing programs over)", agentLog, StringComparison.Ordinal);
        Assert.Contains("the keeper (pid ", agentLog, StringComparison.Ordinal);
        Assert.Contains($"took count (pid {pid}) back from the keeper", agentLog, StringComparison.Ordinal);
        Assert.Contains($"adopted count (pid {pid}", agentLog, StringComparison.Ordinal);
        var linesAtSwitch = CountLines(wine).Count;
        Eventually(() => CountLines(wine).Count >= linesAtSwitch + 100, "count.log grows after the update");

        // Every line once, in order, all of this one process: none lost while no agent read the pipe, none read twice.
        var lines = CountLines(wine);
        Assert.All(lines, l => Assert.Equal(pid, l.Pid));
        Assert.Equal(Enumerable.Range(0, lines.Count), lines.Select(l => l.N));

        var stop = wine.Run("sc", "stop", "Belay");
        Assert.True(stop.ExitCode == 0, stop.ToString());
        wine.WaitForState("Belay", 1, TimeSpan.FromSeconds(90));
        Eventually(() => Running(wine).Count == 0, "the program ends with the service");
    }

    /// <summary>count.log's lines as (N, pid); a line that is not a whole "count N pid P" line fails the test.</summary>
    private static List<(int N, int Pid)> CountLines(WinePrefix wine)
    {
        var text = ReadShared(Log(wine, "count.log"));
        var complete = text[..(text.LastIndexOf('\n') + 1)]; // the last line may be on its way
        return [.. complete.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
        {
            var m = CountLine().Match(line);
            Assert.True(m.Success, $"not a line of the count program: '{line}'");
            return (int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
        })];
    }

    private static Dictionary<string, Status> WaitFor(WinePrefix wine, string exe, Func<Dictionary<string, Status>, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        Dictionary<string, Status> last = [];
        while (DateTime.UtcNow < deadline)
        {
            last = ReadPrograms(wine, exe);
            if (done(last))
            {
                return last;
            }
            Thread.Sleep(1000);
        }
        Assert.Fail($"programs not as expected within 2 minutes: {string.Join("; ", last.Select(p => $"{p.Key} {p.Value}"))}\n"
            + ReadShared(wine.OnLinux(DataRoot + @"\logs\agent.log")) + "\n" + ReadShared(wine.OnLinux(DataRoot + @"\logs\keeper.log")));
        return last;
    }

    [GeneratedRegex(@"^count (\d{6}) pid (\d+)\r?$")]
    private static partial Regex CountLine();
}
