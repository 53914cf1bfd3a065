using System.Globalization;
using System.Text;
using System.Text.Json;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Programs;

/// <summary>
/// stdout goes to NAME.log and stderr to NAME.err.log, each rotated on its own; redirect_stderr = true
/// puts both into NAME.log in the order written. The stderr FIFO lives and dies with its program, like
/// the stdout one, and the agent that adopts a program after a crash reads both.
/// </summary>
public sealed class StderrLogTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private const int Lines = 100;
    private const string Pad = " --------------------------------";

    // Writes Lines lines to each stream (about 4 KB each: several 1 KB rotations), waits for $SCRATCH/go, writes one more each, then sleeps.
    private const string Split = """
        [program:split]
        command = sh -c 'i=0; while [ $i -lt 100 ]; do i=$((i+1)); echo "out $i --------------------------------"; echo "err $i --------------------------------" >&2; done; while [ ! -e $SCRATCH/go ]; do sleep 0.05; done; echo "late out"; echo "late err" >&2; exec sleep 1000'
        log_max_bytes = 1KB
        log_backups = 20

        """;

    private const string Merged = """
        [program:merged]
        command = sh -c 'i=0; while [ $i -lt 100 ]; do i=$((i+1)); echo "out $i --------------------------------"; echo "err $i --------------------------------" >&2; done'
        redirect_stderr = true
        restart = never
        log_max_bytes = 1KB
        log_backups = 20

        """;

    private static string Numbered(string prefix) =>
        string.Concat(Enumerable.Range(1, Lines).Select(i => string.Create(CultureInfo.InvariantCulture, $"{prefix} {i}{Pad}\n")));

    private static int AgentPid(JsonElement status) =>
        status.GetProperty("agent").GetProperty("pid") is { ValueKind: JsonValueKind.Number } p ? p.GetInt32() : 0;

    private static void WaitForLog(ProgramsHost host, string file, Func<string, bool> done, string what)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var text = "";
        while (watch.Elapsed < Wait)
        {
            text = host.ReadProgramLog(file);
            if (done(text))
            {
                return;
            }
            Thread.Sleep(100);
        }
        Assert.Fail($"{file}.log never {what}; it holds:\n{text}\nAgent log:\n{host.ReadAgentLog()}");
    }

    [Fact]
    public void EachStreamGoesToItsOwnRotatedFileAndRedirectStderrPutsBothInOneInOrder()
    {
        using var host = new ProgramsHost(Split + Merged);
        var fifos = Path.Combine(host.Prefix, "var", "programs");
        WaitForLog(host, "split", t => t.EndsWith("out 100" + Pad + "\n", StringComparison.Ordinal), "got its 100th line");
        WaitForLog(host, "split.err", t => t.EndsWith("err 100" + Pad + "\n", StringComparison.Ordinal), "got its 100th line");
        host.WaitForProgram("merged", p => ProgramsHost.State(p) == "exited", Wait, "exited");

        // Each file set holds exactly its own stream, every line once, in order, across rotations.
        Assert.Equal(Numbered("out"), host.ReadProgramLog("split"));
        Assert.Equal(Numbered("err"), host.ReadProgramLog("split.err"));
        Assert.True(File.Exists(host.LogFile("split") + ".2") && File.Exists(host.LogFile("split.err") + ".2"), "each stream should have rotated on its own");
        var interleaved = new StringBuilder();
        for (var i = 1; i <= Lines; i++)
        {
            interleaved.Append(CultureInfo.InvariantCulture, $"out {i}{Pad}\nerr {i}{Pad}\n");
        }
        Assert.Equal(interleaved.ToString(), host.ReadProgramLog("merged"));
        Assert.False(File.Exists(host.LogFile("merged.err")));
        Assert.True(File.Exists(Path.Combine(fifos, "split.fifo")) && File.Exists(Path.Combine(fifos, "split.err.fifo")));
        Assert.False(File.Exists(Path.Combine(fifos, "merged.err.fifo")));

        // belay logs shows stdout; --stderr shows stderr; a merged program has no stderr file to show.
        var stdout = host.Belay("logs", "split", "-n", "2");
        Assert.True(stdout.ExitCode == 0, stdout.ToString());
        Assert.Equal($"out 99{Pad}\nout 100{Pad}\n", stdout.StdOut);
        var stderr = host.Belay("logs", "split", "--stderr", "-n", "2");
        Assert.True(stderr.ExitCode == 0, stderr.ToString());
        Assert.Equal($"err 99{Pad}\nerr 100{Pad}\n", stderr.StdOut);
        var none = host.Belay("logs", "merged", "--stderr");
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("redirect_stderr = true", none.StdErr, StringComparison.Ordinal);
        Assert.Equal(2, host.Belay("logs", "agent", "--stderr").ExitCode);

        // The agent crashes; the next one adopts the program and reads both of its pipes.
        var pid = ProgramsHost.Pid(host.WaitForProgram("split", p => ProgramsHost.State(p) == "running", Wait, "running"));
        var agent = AgentPid(host.Host.WaitFor(s => AgentPid(s) > 0, Wait, "agent running"));
        Assert.Equal(0, ExternalTool.Run("kill", ["-9", agent.ToString(CultureInfo.InvariantCulture)]).ExitCode);
        host.Host.WaitFor(s => AgentPid(s) is var p && p > 0 && p != agent && s.GetProperty("agent").GetProperty("ready").GetBoolean(), Wait, "a new agent");
        File.WriteAllText(Path.Combine(host.Scratch, "go"), "");
        WaitForLog(host, "split", t => t.EndsWith($"out 100{Pad}\nlate out\n", StringComparison.Ordinal), "got the line written after the crash");
        WaitForLog(host, "split.err", t => t.EndsWith($"err 100{Pad}\nlate err\n", StringComparison.Ordinal), "got the line written after the crash");
        Assert.Equal(pid, ProgramsHost.Pid(host.Program("split")));
        Assert.DoesNotContain("late err", host.ReadProgramLog("split"), StringComparison.Ordinal);

        // Removed by a reload: both FIFOs go. Added back with redirect_stderr: one FIFO, stderr into split.log.
        host.WriteConfig(Merged);
        var reload = host.Belay("reload");
        Assert.True(reload.ExitCode == 0, reload.ToString());
        host.Host.WaitFor(s => ProgramsHost.Program(s, "split").ValueKind == JsonValueKind.Undefined, Wait, "split removed");
        Assert.False(File.Exists(Path.Combine(fifos, "split.fifo")), "the stdout FIFO of a removed program");
        Assert.False(File.Exists(Path.Combine(fifos, "split.err.fifo")), "the stderr FIFO of a removed program");
        host.WriteConfig(Merged + Split + "redirect_stderr = true\n");
        reload = host.Belay("reload");
        Assert.True(reload.ExitCode == 0, reload.ToString());
        host.WaitForProgram("split", p => ProgramsHost.State(p) == "running", Wait, "running again");
        WaitForLog(host, "split", t => t.EndsWith("late out\nlate err\n", StringComparison.Ordinal), "got stderr with stdout");
        Assert.True(File.Exists(Path.Combine(fifos, "split.fifo")));
        Assert.False(File.Exists(Path.Combine(fifos, "split.err.fifo")));
        Assert.EndsWith($"err 100{Pad}\nlate err\n", host.ReadProgramLog("split.err"), StringComparison.Ordinal);
    }
}
