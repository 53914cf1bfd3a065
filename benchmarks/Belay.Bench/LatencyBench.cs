using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Belay.Bench;

/// <summary>One timed run; <see cref="Seconds"/> is NaN when it failed or timed out.</summary>
internal sealed record Timed(double Seconds, string? Failure = null);

internal sealed record LatencyResult(
    IReadOnlyList<Timed> OneLiner,
    IReadOnlyList<Timed> Floor,
    IReadOnlyList<Timed> Update,
    IReadOnlyList<Timed> Rollback,
    IReadOnlyList<Timed> AppDeploy,
    IReadOnlyList<double> PublishSeconds,
    int Agents,
    long DownloadBytes,
    long FloorBytes,
    IReadOnlyList<(string Path, double PerAgent)> RequestsPerUpdate,
    string? Error);

/// <summary>
/// Latency, medians of repeated runs against an HTTPS feed on loopback:
/// <list type="bullet">
/// <item>the one-liner (the feed's generated install.sh, <c>curl | sh -s -- --user --prefix DIR
/// --service-manager none</c>) until <c>belay status --json</c> says the agent is ready, against
/// the floor of fetching the same bytes (install.sh, the bootstrapper, the agent archive) with
/// curl and extracting the archive with tar;</item>
/// <item>a publish (belay-release publish of the next version) until every one of several
/// installed agents runs it, committed and ready;</item>
/// <item>a bad release (an agent that exits at once) until every agent is back on the good
/// version with the bad one marked bad;</item>
/// <item>an app release (belay-release deploy to the agents' group) until every agent runs it,
/// through its hooks and its health gate.</item>
/// </list>
/// Agents run the product's defaults: poll every 10 s (±10% jitter), trial deadline 60 s, 3 tries.
/// </summary>
internal static class LatencyBench
{
    private static readonly TimeSpan StatusEvery = TimeSpan.FromMilliseconds(250);

    public static LatencyResult Run(BenchContext ctx)
    {
        var o = ctx.Options;
        var dir = ctx.Dir("latency");
        var feed = new BenchFeed(ctx, dir);
        var version = ctx.BuiltVersion;
        feed.Publish(version, ctx.AgentBytes, withBootstrap: true);
        using var nginx = Nginx.Start(Path.Combine(dir, "nginx"), feed.Dir, ctx.Tls);
        var url = nginx.BaseUrl;
        var gzip = Path.Combine(feed.Dir, "bootstrap", version, $"belay-{ctx.Rid}.gz");
        if (o.RawBootstrap)
        {
            File.Delete(gzip);
            File.Delete(gzip + ".minisig");
        }
        feed.WriteInstallers(url);
        // What install.sh downloads: the gzip copy when the feed has one.
        var boot = File.Exists(gzip) ? $"bootstrap/{version}/belay-{ctx.Rid}.gz" : feed.Find($"bootstrap/{version}", $"belay-{ctx.Rid}");
        // The floor fetches the .tar.gz (what curl and tar unpack); belay install fetches the compact form when there is one.
        var archive = feed.Find($"agent/{version}", "*.tar.gz");
        var downloadBytes = new FileInfo(Path.Combine(feed.Dir, "install.sh")).Length + new FileInfo(Path.Combine(feed.Dir, boot)).Length +
            new FileInfo(Path.Combine(feed.Dir, feed.Download(version))).Length;
        var floorBytes = downloadBytes - new FileInfo(Path.Combine(feed.Dir, feed.Download(version))).Length + new FileInfo(Path.Combine(feed.Dir, archive)).Length;

        var oneLiner = new List<Timed>();
        var floor = new List<Timed>();
        var update = new List<Timed>();
        var rollback = new List<Timed>();
        var appDeploy = new List<Timed>();
        var publishTimes = new List<double>();
        var requests = new List<(string, double)>();
        var hosts = new List<BelayHost>();
        try
        {
            for (var i = 1; i <= o.LatencyRuns; i++)
            {
                BenchContext.Say($"latency: one-liner run {i}/{o.LatencyRuns}");
                oneLiner.Add(OneLiner(ctx, url, Path.Combine(dir, $"oneliner-{i}")));
                floor.Add(Floor(ctx, url, boot, archive, Path.Combine(dir, $"floor-{i}")));
            }

            BenchContext.Say($"latency: installing {o.LatencyAgents} agents (defaults: poll 10 s, trial deadline 60 s, 3 tries)");
            for (var k = 1; k <= o.LatencyAgents; k++)
            {
                var host = new BelayHost(ctx, Path.Combine(dir, $"agent-{k}"));
                hosts.Add(host);
                var r = host.Install(url);
                if (!r.Ok)
                {
                    throw new InvalidOperationException($"belay install of agent {k} failed: {r}");
                }
            }

            for (var round = 1; round <= o.LatencyRuns; round++)
            {
                var good = Versions.NextPatch(feed.Latest!);
                BenchContext.Say($"latency: round {round}/{o.LatencyRuns}: publish {good}, wait for {hosts.Count} agents");
                var t0 = Nginx.Now();
                var watch = Stopwatch.StartNew();
                publishTimes.Add(feed.Publish(good, ctx.AgentBytes).TotalSeconds);
                var took = WaitAll(hosts, s => BelayHost.On(s, good), watch, TimeSpan.FromSeconds(120));
                update.Add(took);
                if (round == 1 && !double.IsNaN(took.Seconds))
                {
                    Thread.Sleep(1500);
                    requests = RequestsPerAgent(nginx, t0, Nginx.Now(), hosts.Count, good);
                }
                if (double.IsNaN(took.Seconds))
                {
                    break;
                }

                var bad = Versions.NextPatch(good);
                BenchContext.Say($"latency: round {round}/{o.LatencyRuns}: publish broken {bad}, wait for the rollbacks");
                watch.Restart();
                publishTimes.Add(feed.Publish(bad, BenchFeed.CrashingAgent).TotalSeconds);
                var back = WaitAll(hosts, s => BelayHost.RolledBack(s, good, bad), watch, TimeSpan.FromSeconds(180));
                rollback.Add(back);
                if (double.IsNaN(back.Seconds))
                {
                    break;
                }
            }

            for (var round = 1; round <= o.LatencyRuns; round++)
            {
                var app = $"1.{round}.0";
                BenchContext.Say($"latency: round {round}/{o.LatencyRuns}: deploy app {BenchFeed.App} {app}, wait until it is healthy on {hosts.Count} agents");
                var watch = Stopwatch.StartNew();
                feed.DeployApp(app);
                var took = WaitAll(hosts, s => BelayHost.AppOn(s, app), watch, TimeSpan.FromSeconds(120));
                appDeploy.Add(took);
                if (double.IsNaN(took.Seconds))
                {
                    break;
                }
            }
            return new LatencyResult(oneLiner, floor, update, rollback, appDeploy, publishTimes, hosts.Count, downloadBytes, floorBytes, requests, null);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            BenchContext.Say($"latency FAILED: {e.Message}");
            return new LatencyResult(oneLiner, floor, update, rollback, appDeploy, publishTimes, hosts.Count, downloadBytes, floorBytes, requests, e.Message);
        }
        finally
        {
            foreach (var h in hosts)
            {
                h.Uninstall();
            }
        }
    }

    private static Timed OneLiner(BenchContext ctx, string url, string prefix)
    {
        var host = new BelayHost(ctx, prefix);
        try
        {
            var watch = Stopwatch.StartNew();
            var r = Shell.Run("sh", ["-c", $"curl -fsSL '{url}install.sh' | sh -s -- --user --prefix '{prefix}' --service-manager none"],
                ctx.Tls.ClientEnvironment, TimeSpan.FromMinutes(2));
            var seconds = watch.Elapsed.TotalSeconds;
            if (!r.Ok)
            {
                return new Timed(double.NaN, $"install.sh failed: {r}");
            }
            // install.sh ends when `belay install` saw the agent report ready to its keeper (it waits for that), so the
            // clock stops there; the status that checks it is not timed: it is one more cold start of the bootstrapper,
            // which the floor does not pay (until 2026-12-07 it was inside the figure). It must say ready at once.
            return host.Status() is { } status && BelayHost.Ready(status)
                ? new Timed(seconds)
                : new Timed(double.NaN, "install.sh returned, but the agent was not ready");
        }
        finally
        {
            host.Uninstall();
        }
    }

    private static Timed Floor(BenchContext ctx, string url, string boot, string archive, string dir)
    {
        Directory.CreateDirectory(dir);
        var watch = Stopwatch.StartNew();
        var r = Shell.Run("sh", ["-c",
            $"curl -fsSL '{url}install.sh' -o '{dir}/install.sh' && curl -fsSL '{url}{boot}' " + (boot.EndsWith(".gz", StringComparison.Ordinal) ? $"| gzip -dc > '{dir}/belay'" : $"-o '{dir}/belay'") + " && " +
            $"curl -fsSL '{url}{archive}' | tar -xzf - -C '{dir}'"], ctx.Tls.ClientEnvironment, TimeSpan.FromMinutes(2));
        var seconds = watch.Elapsed.TotalSeconds;
        Directory.Delete(dir, recursive: true);
        return r.Ok ? new Timed(seconds) : new Timed(double.NaN, $"curl | tar failed: {r}");
    }

    /// <summary>Polls every host's status until each satisfies <paramref name="done"/>; the time the last one did.</summary>
    private static Timed WaitAll(List<BelayHost> hosts, Func<JsonElement, bool> done, Stopwatch watch, TimeSpan timeout)
    {
        var pending = new HashSet<BelayHost>(hosts);
        var last = 0.0;
        while (pending.Count > 0 && watch.Elapsed < timeout)
        {
            foreach (var h in pending.ToList())
            {
                if (h.Status() is { } s && done(s))
                {
                    pending.Remove(h);
                    last = watch.Elapsed.TotalSeconds;
                }
            }
            if (pending.Count > 0)
            {
                Thread.Sleep(StatusEvery);
            }
        }
        return pending.Count == 0
            ? new Timed(last)
            : new Timed(double.NaN, $"{pending.Count} of {hosts.Count} agents not there within {timeout.TotalSeconds:0} s");
    }

    /// <summary>What the real agents fetched for one update, per agent: the model for the fleet simulator.</summary>
    private static List<(string, double)> RequestsPerAgent(Nginx nginx, double from, double to, int agents, string version) =>
        [.. nginx.ReadLog()
            .Where(l => l.Time >= from && l.Time <= to && l.UserAgent == "belay")
            .GroupBy(l => $"{l.Path.Replace(version, "V", StringComparison.Ordinal)} {l.Status.ToString(CultureInfo.InvariantCulture)}")
            .OrderBy(g => g.Min(l => l.Time))
            .Select(g => (g.Key, g.Count() / (double)agents))];
}
