using System.Diagnostics;
using System.Text.Json;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Deploy;

/// <summary>
/// SIGKILL of the agent while an update of the app is at a step, the step held there (a hook
/// waiting, a long start_timeout or healthy_for): the keeper starts a new agent, which resumes
/// the step or fails it at once with "agent restarted during STEP", and the app ends on exactly
/// one complete release, answering, with no private folder left. The numbered crash points of
/// the same steps (a power loss at each journal write) are in Belay.Core.Tests/Crash.
/// </summary>
public sealed class DeployCrashTests
{
    /// <summary>(the step the journal names, the hook held or the config change that holds it, whether the new agent resumes it).</summary>
    public static TheoryData<string, string, bool> Steps => new()
    {
        { "PreInstall", "pre_install", false },
        { "PostInstall", "post_install", false },
        { "Stop", "pre_stop", false },
        { "PreStart", "pre_start", false },
        { "Exec", "start_timeout", true },
        { "PostStart", "post_start", false },
        { "Health", "healthy_for", true },
    };

    [Theory]
    [MemberData(nameof(Steps))]
    public void AnAgentKilledDuringAStepEndsOnExactlyOneCompleteRelease(string journaled, string hold, bool resumed)
    {
        using var host = new DeployHost();
        host.Deploy("1.0.0");
        host.WaitForApp(a => DeployHost.On(a, "1.0.0"), "running 1.0.0");

        if (hold is "start_timeout" or "healthy_for")
        {
            host.Package("1.1.0", dir =>
            {
                var conf = Path.Combine(dir, "belay-app.conf");
                var text = File.ReadAllText(conf);
                text = hold == "start_timeout"
                    ? text.Replace("start_timeout = 1s", "start_timeout = 6s", StringComparison.Ordinal)
                    : text.Replace("healthy_for = 500ms", "healthy_for = 6s", StringComparison.Ordinal).Replace("deadline = 10s", "deadline = 30s", StringComparison.Ordinal);
                File.WriteAllText(conf, text);
            });
        }
        else
        {
            host.Hold(hold, hold == "pre_stop" ? "1.0.0" : "1.1.0");
        }
        host.Deploy("1.1.0");
        WaitForStep(host, journaled);
        var agent = host.AgentPid();
        Assert.True(agent > 0);
        ExternalTool.Run("kill", ["-9", agent.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

        var app = host.WaitForApp(a => DeployHost.Str(a, "state") is "converged" or "failed" && DeployHost.LastResult(a) is not null, "settled after the crash");
        foreach (var file in Directory.GetFiles(host.HoldDir))
        {
            File.Delete(file);
        }
        var last = app.GetProperty("lastDeploy");
        if (resumed)
        {
            Assert.True(DeployHost.On(app, "1.1.0"), app.ToString());
            Assert.Equal("ok", last.GetProperty("result").GetString());
        }
        else
        {
            var step = hold == "pre_stop" ? "stop" : hold;
            Assert.Equal(("1.0.0", $"agent restarted during {step}", step), (DeployHost.Str(app, "running"),
                last.GetProperty("reason").GetString(), last.GetProperty("step").GetString()));
            Assert.Equal(["1.1.0"], app.GetProperty("bad").EnumerateArray().Select(b => b.GetString()));
        }
        var expected = resumed ? "1.1.0" : "1.0.0";
        Assert.Equal((200, $"hello from hello {expected}: -\n"), host.Get("/"));
        // One complete release runs; nothing half-made is left beside it.
        Assert.DoesNotContain(host.ReleaseFolders(), f => f.StartsWith('.'));
        Assert.Equal(resumed ? ["1.0.0", "1.1.0"] : ["1.0.0"], host.ReleaseFolders());
        // The hook the dead agent left waiting was ended with its process group.
        Assert.DoesNotContain("hooks/record.sh", ExternalTool.Run("ps", ["-eo", "args"]).StdOut.Split('\n').Where(l => l.Contains(host.Prefix, StringComparison.Ordinal)));
    }

    private static void WaitForStep(DeployHost host, string step)
    {
        var watch = Stopwatch.StartNew();
        string? seen = null;
        while (watch.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(host.Journal));
                seen = doc.RootElement.TryGetProperty("deploy", out var d) ? d.GetProperty("step").GetString() : null;
                if (seen == step)
                {
                    // Journaled before its effect: give the effect a moment to be under way.
                    Thread.Sleep(TimeSpan.FromMilliseconds(500));
                    return;
                }
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
            }
            Thread.Sleep(20);
        }
        Assert.Fail($"the deploy never reached {step} (last {seen ?? "none"})\n{host.Diagnostics()}");
    }
}
