using System.Text.Json;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Programs;

/// <summary>The agent as a supervisor, with real child programs (sh scripts) under the shipped NativeAOT binaries.</summary>
public sealed class SupervisionTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public void ACrashLoopEndsFatalAndAnExplicitRestartRetriesIt()
    {
        using var host = new ProgramsHost("""
            [program:crasher]
            command = sh -c 'echo "boom $$"; exit 3'
            backoff_initial = 100ms
            backoff_max = 200ms
            fatal_after = 4
            fatal_window = 1m
            """);
        var fatal = host.WaitForProgram("crasher", p => ProgramsHost.State(p) == "fatal", Wait, "fatal");
        Assert.Equal(3, fatal.GetProperty("restarts").GetInt32());
        Assert.Equal("exit 3", fatal.GetProperty("lastExit").GetString());
        Assert.Equal(4, host.ReadProgramLog("crasher").Split('\n').Count(l => l.StartsWith("boom ", StringComparison.Ordinal)));
        Thread.Sleep(500);
        Assert.Equal(3, host.Program("crasher").GetProperty("restarts").GetInt32()); // fatal: no more restarts

        var restart = host.Belay("restart", "crasher");
        Assert.True(restart.ExitCode == 0, restart.ToString());
        var again = host.WaitForProgram("crasher", p => ProgramsHost.State(p) == "fatal" && p.GetProperty("restarts").GetInt32() == 7, Wait, "fatal again after 4 more tries");
        Assert.Equal("exit 3", again.GetProperty("lastExit").GetString());
    }

    [Fact]
    public void AProgramStartsWithNoSignalIgnoredOrBlocked()
    {
        // The agent is a .NET process (SIGPIPE ignored, its own handlers); a program must start as from a shell:
        // with SIGPIPE ignored, `producer | head` in a program's script would never end its producer.
        using var host = new ProgramsHost("""
            [program:signals]
            command = sh -c 'grep -E "^Sig(Ign|Blk):" /proc/self/status; exec sleep 1000'
            """);
        host.WaitForProgram("signals", p => ProgramsHost.State(p) == "running", Wait, "running");
        var deadline = DateTime.UtcNow + Wait;
        while (!host.ReadProgramLog("signals").Contains("SigBlk:", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
        }
        var log = host.ReadProgramLog("signals");
        Assert.Matches(@"SigIgn:\s+0000000000000000", log);
        Assert.Matches(@"SigBlk:\s+0000000000000000", log);
    }

    [Fact]
    public void StoppingAProgramLeavesNoGrandchildEvenOneThatIgnoresTheStopSignal()
    {
        using var host = new ProgramsHost("""
            [program:parent]
            command = sh -c 'sh -c "trap \"\" TERM; echo \$\$ > $SCRATCH/grandchild.pid; while :; do sleep 1; done" & sleep 1000 & echo started; wait'
            stop_timeout = 1s

            [program:stubborn]
            command = sh -c 'trap "" TERM; sleep 1000 & while :; do sleep 1; done'
            stop_timeout = 1s
            """);
        var running = host.WaitForProgram("parent", p => ProgramsHost.State(p) == "running", Wait, "running");
        var pid = ProgramsHost.Pid(running);
        var pidFile = Path.Combine(host.Scratch, "grandchild.pid");
        for (var i = 0; i < 50 && !File.Exists(pidFile); i++)
        {
            Thread.Sleep(100);
        }
        var grandchild = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(ExternalTool.IsRunning(grandchild));
        Assert.Equal(pid, ProcessGroupOf(grandchild)); // the program leads its own group

        var stop = host.Belay("stop", "parent");
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.Equal("stopped", ProgramsHost.State(host.Program("parent")));
        Assert.False(ExternalTool.IsRunning(pid));
        Assert.False(ExternalTool.IsRunning(grandchild), $"grandchild {grandchild} survived the stop");
        Assert.Empty(ProcessesInGroup(pid));

        // A program that ignores its stop signal: SIGKILL to its whole group after stop_timeout.
        var stubborn = ProgramsHost.Pid(host.WaitForProgram("stubborn", p => ProgramsHost.State(p) == "running", Wait, "running"));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(0, host.Belay("stop", "stubborn").ExitCode);
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        Assert.Empty(ProcessesInGroup(stubborn));
        Assert.Contains("stubborn (pid " + stubborn + ") did not stop within 1 s; killing its process group", host.ReadAgentLog(), StringComparison.Ordinal);

        // Stopped stays stopped; start brings it back.
        Thread.Sleep(1500);
        Assert.Equal("stopped", ProgramsHost.State(host.Program("parent")));
        Assert.Equal(0, host.Belay("start", "parent").ExitCode);
        host.WaitForProgram("parent", p => ProgramsHost.State(p) == "running", Wait, "running again");
    }

    [Fact]
    public void AProgramRunsAsItsConfiguredUserWithThatUsersGroups()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            Assert.Skip("run-as-user needs the agent to run as root");
        }
        using var host = new ProgramsHost("""
            [program:whoami]
            command = sh -c 'echo "user=$(id -un) uid=$(id -u) gid=$(id -g) groups=$(id -G) home=$HOME"; exec sleep 1000'
            user = nobody
            """);
        var running = host.WaitForProgram("whoami", p => ProgramsHost.State(p) == "running", Wait, "running");
        var status = File.ReadAllLines($"/proc/{ProgramsHost.Pid(running)}/status");
        Assert.Contains(status, l => l.StartsWith("Uid:\t65534\t65534\t65534", StringComparison.Ordinal));
        Assert.Contains(status, l => l.StartsWith("Gid:\t65534\t65534\t65534", StringComparison.Ordinal));
        var line = host.ReadProgramLog("whoami");
        Assert.Contains("user=nobody uid=65534 gid=65534 groups=65534", line, StringComparison.Ordinal);
        Assert.DoesNotContain("groups=0", line, StringComparison.Ordinal); // root's supplementary groups are gone
    }

    [Fact]
    public void AReloadChangesOnlyWhatChangedAndABadConfigIsRefusedWithItsLine()
    {
        using var host = new ProgramsHost("""
            [program:steady]
            command = sleep 1000
            environment = API_TOKEN="very-secret-value", PLAIN=visible

            [program:changing]
            command = sleep 1001

            [program:leaving]
            command = sleep 1002
            """);
        foreach (var name in (string[])["steady", "changing", "leaving"])
        {
            host.WaitForProgram(name, p => ProgramsHost.State(p) == "running", Wait, "running");
        }
        var status = host.Host.Status();
        var steady = ProgramsHost.Pid(ProgramsHost.Program(status, "steady"));
        var changing = ProgramsHost.Pid(ProgramsHost.Program(status, "changing"));
        var leaving = ProgramsHost.Pid(ProgramsHost.Program(status, "leaving"));

        // Secrets are masked in status --json; the plain value is shown.
        var json = host.Belay("status", "--json");
        Assert.DoesNotContain("very-secret-value", json.StdOut, StringComparison.Ordinal);
        Assert.Equal("***", ProgramsHost.Program(status, "steady").GetProperty("environment").GetProperty("API_TOKEN").GetString());
        Assert.Equal("visible", ProgramsHost.Program(status, "steady").GetProperty("environment").GetProperty("PLAIN").GetString());
        var human = host.Belay("status");
        Assert.Matches(@"\n  steady +running +pid \d+ +up [0-9:]+ +restarts 0 +last exit -", human.StdOut);
        Assert.DoesNotContain("very-secret-value", human.StdOut, StringComparison.Ordinal);
        // A token in config.json is never printed.
        var configJson = Path.Combine(host.Prefix, "etc", "config.json");
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configJson))!;
        config["token"] = "tok-secret-123";
        File.WriteAllText(configJson, config.ToJsonString());
        var withToken = host.Belay("status", "--json");
        Assert.DoesNotContain("tok-secret-123", withToken.StdOut, StringComparison.Ordinal);
        using (var doc = JsonDocument.Parse(withToken.StdOut))
        {
            Assert.Equal("***", doc.RootElement.GetProperty("token").GetString());
        }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(configJson));
        Assert.DoesNotContain("tok-secret-123", host.ReadAgentLog(), StringComparison.Ordinal);
        var agentLog = host.Belay("logs", "agent", "-n", "500");
        Assert.True(agentLog.ExitCode == 0, agentLog.ToString());
        Assert.Contains("supervising 3 program(s)", agentLog.StdOut, StringComparison.Ordinal);
        var logs = host.Belay("logs", "nosuch");
        Assert.Equal(1, logs.ExitCode);
        Assert.Contains("no program 'nosuch'", logs.StdErr, StringComparison.Ordinal);

        host.WriteConfig("""
            [program:steady]
            command = sleep 1000
            environment = API_TOKEN="very-secret-value", PLAIN=visible
            restart = on-failure

            [program:changing]
            command = sleep 2001

            [program:arriving]
            command = sleep 1003
            """);
        var reload = host.Belay("reload");
        Assert.True(reload.ExitCode == 0, reload.ToString());
        Assert.Contains("started arriving; restarted changing; stopped leaving; unchanged steady", reload.StdOut, StringComparison.Ordinal);
        var after = host.WaitForProgram("changing", p => ProgramsHost.State(p) == "running" && ProgramsHost.Pid(p) != changing, Wait, "restarted");
        Assert.Equal(steady, ProgramsHost.Pid(host.Program("steady")));
        Assert.False(ExternalTool.IsRunning(leaving));
        Assert.Equal(JsonValueKind.Undefined, host.Program("leaving").ValueKind);
        host.WaitForProgram("arriving", p => ProgramsHost.State(p) == "running", Wait, "running");

        // A config with an error is refused with its file, line and field; nothing changes.
        host.WriteConfig("""
            [program:steady]
            command = sleep 1000

            [program:changing]
            command = sleep 2001
            restart = sometimes
            """);
        var refused = host.Belay("reload");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains($"{host.ConfigFile}:6: restart: 'sometimes' is not always, on-failure or never", refused.StdErr, StringComparison.Ordinal);
        Assert.Equal(steady, ProgramsHost.Pid(host.Program("steady")));
        Assert.Equal(ProgramsHost.Pid(after), ProgramsHost.Pid(host.Program("changing")));
        Assert.Equal("running", ProgramsHost.State(host.Program("arriving")));
    }

    private static int ProcessGroupOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static List<int> ProcessesInGroup(int group) =>
        [.. Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Select(n => int.TryParse(n, out var p) ? p : 0)
            .Where(p => p > 0 && ExternalTool.IsRunning(p))
            .Where(p =>
            {
                try
                {
                    return ProcessGroupOf(p) == group;
                }
                catch (IOException)
                {
                    return false;
                }
            })];
}
