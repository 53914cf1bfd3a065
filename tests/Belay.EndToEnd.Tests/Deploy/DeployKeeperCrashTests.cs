using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Belay.EndToEnd.Tests.Install;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Deploy;

/// <summary>
/// SIGKILL of the keeper while its agent waits in a deploy's stop step for the old release to end
/// (a release that ignores its stop signal: the wait lasts its stop_timeout). The dead keeper's
/// agent hands over on its own (SIGUSR2 on the parent's death) while the next keeper starts a new
/// agent at once. The two must never supervise side by side: the soak (DeployCrashSoakTests, seed
/// 1939149997) caught the old agent, still waiting in that step, writing the programs' state file
/// after the new agent had started the new release, which the file then no longer named, so the
/// agent after them started a second copy that could not bind the port.
/// </summary>
public sealed class DeployKeeperCrashTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public void TheAgentOfAKilledKeeperHasEndedBeforeTheNextAgentRunsAndOneReleaseRunsAfterwards()
    {
        using var host = new DeployHost();
        // 1.0.0 ignores SIGTERM (its stop signal): stopping it takes the whole stop_timeout, then SIGKILL.
        host.Package("1.0.0", dir =>
        {
            var deaf = Path.Combine(dir, "bin", "deaf.sh");
            File.WriteAllText(deaf, "#!/bin/sh\ntrap '' TERM\nexec \"$(dirname \"$0\")/hello\"\n");
            File.SetUnixFileMode(deaf, (UnixFileMode)0b111_101_101);
            var conf = Path.Combine(dir, "belay-app.conf");
            File.WriteAllText(conf, File.ReadAllText(conf)
                .Replace("exec = bin/hello", "exec = bin/deaf.sh", StringComparison.Ordinal)
                .Replace("stop_timeout = 5s", "stop_timeout = 12s", StringComparison.Ordinal));
        });
        host.Deploy("1.0.0");
        host.WaitForApp(a => DeployHost.On(a, "1.0.0"), "running 1.0.0");
        var old = host.AppPid();
        Assert.True(old > 0);

        host.Deploy("1.1.0");
        WaitForStopSignal(host);
        var agent = host.AgentPid();
        Assert.True(agent > 0);
        Assert.Equal("keeper", CrashSoak.Kill(host.Prefix, "keeper"));
        CrashSoak.EnsureKeeper(host.Prefix, host.Host.KeeperLog);

        // The next agent reports ready only once the one before it has ended (it hands over at once: its step is cut off).
        var watch = Stopwatch.StartNew();
        host.Host.WaitFor(s => AgentPid(s) is var p && p > 0 && p != agent && s.GetProperty("agent").GetProperty("ready").GetBoolean(), Wait, "a new agent ready");
        Assert.False(ExternalTool.IsRunning(agent),
            $"the dead keeper's agent (pid {agent}) still runs {watch.Elapsed.TotalSeconds:0.0} s later beside the next one\n{host.Diagnostics()}");

        // The journal named the stop step, which ran a hook: the deploy fails and 1.0.0, which never stopped, is kept.
        var app = host.WaitForApp(a => DeployHost.Str(a, "state") is "converged" or "failed" && DeployHost.LastResult(a) is not null, "settled after the crash");
        Assert.Equal("1.0.0", DeployHost.Str(app, "running"));
        Assert.Equal((200, "hello from hello 1.0.0: -\n"), host.Get("/"));
        // Past the old release's stop_timeout: an agent left waiting in the stop step would have killed it by now.
        Thread.Sleep(TimeSpan.FromSeconds(13) - watch.Elapsed is { Ticks: > 0 } left ? left : TimeSpan.Zero);
        Assert.Equal((200, "hello from hello 1.0.0: -\n"), host.Get("/"));
        var running = HelloProcesses(host);
        Assert.True(running.SequenceEqual([host.AppPid()]), $"hello processes [{string.Join(", ", running)}], the state file names {host.AppPid()}\n{host.Diagnostics()}");
        Assert.Equal(old, host.AppPid());
    }

    private static int AgentPid(JsonElement status) =>
        status.GetProperty("agent").GetProperty("pid") is { ValueKind: JsonValueKind.Number } p ? p.GetInt32() : 0;

    /// <summary>The journal names the stop step and the pre_stop hook has run: the stop signal is out, and the agent waits.</summary>
    private static void WaitForStopSignal(DeployHost host)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < Wait)
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(host.Journal));
                if (doc.RootElement.TryGetProperty("deploy", out var d) && d.GetProperty("step").GetString() == "Stop"
                    && File.ReadAllText(host.HookLog).Contains("pre_stop app=hello version=1.0.0", StringComparison.Ordinal))
                {
                    Thread.Sleep(TimeSpan.FromMilliseconds(700));
                    return;
                }
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
            }
            Thread.Sleep(20);
        }
        Assert.Fail($"the deploy never reached its stop step\n{host.Diagnostics()}");
    }

    /// <summary>The pids of the demo app's processes of this installation (those running a release's bin/hello).</summary>
    private static List<int> HelloProcesses(DeployHost host)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || !ExternalTool.IsRunning(pid))
            {
                continue;
            }
            try
            {
                if (new FileInfo(Path.Combine(dir, "exe")).LinkTarget is { } exe && exe.StartsWith(host.Releases + "/", StringComparison.Ordinal)
                    && exe.EndsWith("/bin/hello", StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return found;
    }
}
