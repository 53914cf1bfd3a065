using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Belay.EndToEnd.Tests.Install;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Deploy;

/// <summary>
/// SIGKILL at random moments of app deploys, with the shipped NativeAOT binaries: each
/// iteration deploys a new version of the demo app, waits a random delay (within it the agent
/// polls the group, fetches, runs the hooks, stops the old release, starts the new one and
/// gates it), then kills the agent, the keeper or both, starts the keeper again if it is gone,
/// and requires that within a bound the app has settled (converged on the new version, or back
/// on the one before with the reason reported) and runs exactly one complete release, which
/// answers: never neither, never a half-unpacked folder. BELAY_DEPLOY_SOAK_ITERATIONS sets the
/// count (10 by default, as in CI; `./build.sh crash-soak` runs 100), BELAY_CRASH_SOAK_SEED
/// replays a run (the seed is printed either way).
/// </summary>
public sealed class DeployCrashSoakTests
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(45);

    [Fact]
    public void SigkillOfTheAgentOrTheKeeperAtRandomMomentsOfDeploysAlwaysLeavesOneCompleteReleaseRunning()
    {
        var iterations = int.TryParse(Environment.GetEnvironmentVariable("BELAY_DEPLOY_SOAK_ITERATIONS"), CultureInfo.InvariantCulture, out var n) ? n : 10;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("BELAY_CRASH_SOAK_SEED"), CultureInfo.InvariantCulture, out var s) ? s : Random.Shared.Next();
        var rng = new Random(seed);
        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"deploy crash soak: {iterations} iterations, seed {seed} (BELAY_CRASH_SOAK_SEED={seed} replays it)");

        using var host = new DeployHost();
        var archive = host.Package("0.0.0");
        host.Deploy("0.0.0");
        host.WaitForApp(a => DeployHost.On(a, "0.0.0"), "running 0.0.0");

        var watch = Stopwatch.StartNew();
        var failures = new List<string>();
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 1; i <= iterations; i++)
        {
            var version = $"1.{i}.0";
            var delay = rng.Next(0, 4000);
            var victim = rng.Next(4) switch { 0 => "keeper", 1 or 2 => "agent", _ => "keeper and agent" };
            File.Copy(archive, Path.Combine(host.Workspace.Root, "app-packages", $"{DeployHost.App}-{version}-linux-x64.tar.gz"), overwrite: true);
            host.Deploy(version);
            Thread.Sleep(delay);
            CrashSoak.Kill(host.Prefix, victim);
            CrashSoak.EnsureKeeper(host.Prefix, host.Host.KeeperLog);
            var (problem, outcome) = Settled(host, version);
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            if (problem is not null)
            {
                failures.Add($"iteration {i} ({version}, {victim} killed {delay} ms after the deploy): {problem}");
                output?.WriteLine(failures[^1] + "\n" + host.Diagnostics().Split('\n').TakeLast(40).Aggregate((a, b) => a + "\n" + b));
                CrashSoak.EnsureKeeper(host.Prefix, host.Host.KeeperLog);
            }
        }

        var summary = $"deploy crash soak: {iterations} runs, {failures.Count} failures, seed {seed}";
        output?.WriteLine($"{summary} ({watch.Elapsed.TotalSeconds:0} s; {string.Join(", ", outcomes.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Value}× {k.Key}"))})");
        if (Environment.GetEnvironmentVariable("BELAY_CRASH_SOAK_REPORT") is { Length: > 0 } report)
        {
            File.AppendAllText(report, summary + "\n" + string.Concat(failures.Select(f => f + "\n")));
        }
        Assert.True(failures.Count == 0, summary + "\n" + string.Join("\n", failures));
    }

    /// <summary>(null, outcome) once the app settled on one complete, answering release; else (what is wrong, "unsettled").</summary>
    private static (string? Problem, string Outcome) Settled(DeployHost host, string newest)
    {
        var watch = Stopwatch.StartNew();
        var last = "";
        while (watch.Elapsed < Settle)
        {
            var (problem, outcome) = Check(host, newest);
            if (problem is null)
            {
                return (null, outcome);
            }
            last = problem;
            Thread.Sleep(200);
        }
        return ($"not settled within {Settle.TotalSeconds:0} s: {last}", "unsettled");
    }

    private static (string? Problem, string Outcome) Check(DeployHost host, string newest)
    {
        var apps = host.Belay("apps", "--json");
        if (apps.ExitCode != 0)
        {
            return ("belay apps: " + apps, "");
        }
        JsonElement app;
        try
        {
            using var doc = JsonDocument.Parse(apps.StdOut);
            app = DeployHost.AppOf(doc.RootElement).Clone();
        }
        catch (JsonException e)
        {
            return ($"belay apps --json: {e.Message}", "");
        }
        var state = DeployHost.Str(app, "state");
        var running = DeployHost.Str(app, "running");
        var current = DeployHost.Str(app, "current");
        if (state is not ("converged" or "failed") || running is null || running != current)
        {
            return ($"state {state}, running {running ?? "nothing"}, current {current ?? "none"}, step {DeployHost.Str(app, "step") ?? "-"}", "");
        }
        // Settled is about the group document this iteration published: an agent that has not read it yet still says
        // "converged" on the one before (just after its restart), which is not an outcome of this iteration's kill.
        if (DeployHost.Str(app, "desired") is var desired && desired != newest)
        {
            return ($"{state} on {desired}, but the group document names {newest}", "");
        }
        var (code, body) = host.Get("/");
        if (code != 200 || body != $"hello from hello {running}: -\n")
        {
            return ($"running {running}, but GET / answered {code} {body.Trim()}", "");
        }
        if (host.ReleaseFolders() is var folders && (folders.Any(f => f.StartsWith('.')) || !folders.Contains(running)))
        {
            return ($"release folders [{string.Join(", ", folders)}]", "");
        }
        return (null, running == newest ? "converged on the new version" : $"back on the previous version ({app.GetProperty("lastDeploy").GetProperty("reason").GetString()?.Split(':')[0] ?? "no reason reported"})");
    }
}
