using System.Text.Json;
namespace Belay.Bench;

/// <summary>Steady polling over the window, from nginx's access log.</summary>
internal sealed record PollWindow(double Seconds, long Requests, long NotModified, long Bytes, double Mean304Bytes, double ExpectedPerSecond);

/// <summary>One release reaching the simulated fleet.</summary>
internal sealed record RolloutPhase(
    string Version, int Percent, int Hosts, int Admitted, bool Complete, double PublishSeconds,
    double SeenP50, double SeenMax, double RunP50, double RunP90, double RunP99, double RunMax,
    long MetadataBytes, long ArtifactBytes, long ArtifactDownloads, long ArchiveBytes, double WallFrom, double WallTo);

internal sealed record FleetResult(int Hosts, double IntervalSeconds, string Transport, PollWindow? Window,
    IReadOnlyList<RolloutPhase> Phases, long Errors, string? LastError, string? Error);

/// <summary>
/// Fleet scale: <see cref="FleetSimulator"/> with N hosts against nginx serving the feed over
/// plain HTTP on loopback (a CDN terminates TLS at its edge; TLS here would measure the
/// simulator's handshakes on the same two cores, not the feed). Steady polling over a window,
/// then a release at 100% and one at a 10% rollout, each timed until every admitted host runs it.
/// </summary>
internal static class FleetBench
{
    public static FleetResult Run(BenchContext ctx)
    {
        var o = ctx.Options;
        var dir = ctx.Dir("fleet");
        var feed = new BenchFeed(ctx, dir);
        var a = ctx.BuiltVersion;
        feed.Publish(a, ctx.AgentBytes);
        using var nginx = Nginx.Start(Path.Combine(dir, "nginx"), feed.Dir, tls: null, bufferedLog: true);
        var phases = new List<RolloutPhase>();
        PollWindow? window = null;
        using var sim = new FleetSimulator(nginx.BaseUrl, o.FleetHosts, o.PollInterval, a, ctx.Rid);
        var interval = o.PollInterval.TotalSeconds;
        var phaseTimeout = TimeSpan.FromSeconds((interval * 3) + 120);
        try
        {
            BenchContext.Say($"fleet: {o.FleetHosts:N0} simulated hosts polling {nginx.BaseUrl} every {interval:0} s ±10%");
            sim.Start();
            if (!sim.WaitUntil(h => h.SeenSequence > 0, phaseTimeout))
            {
                throw new InvalidOperationException($"not every simulated host fetched the manifest once ({sim.Errors} errors, last: {sim.LastError})");
            }
            Thread.Sleep(1000);
            var start = Nginx.Now();
            BenchContext.Say($"fleet: steady window of {o.FleetWindow.TotalSeconds:0} s");
            Thread.Sleep(o.FleetWindow);
            var end = Nginx.Now();

            var b = Versions.NextPatch(a);
            phases.Add(Release(ctx, sim, nginx, feed, b, 100, phaseTimeout));
            Thread.Sleep(2000); // nginx's ETag has whole seconds: keep publishes apart (docs/feed.md)
            var c = Versions.NextPatch(b);
            phases.Add(Release(ctx, sim, nginx, feed, c, 10, phaseTimeout));

            Thread.Sleep(1500);
            var log = nginx.ReadLog();
            var steady = log.Where(l => l.Time >= start && l.Time < end).ToList();
            var polls = steady.Where(l => l.Path == "/channels/stable.json").ToList();
            var notModified = polls.Where(l => l.Status == 304).ToList();
            window = new PollWindow(end - start, steady.Count, notModified.Count, steady.Sum(l => l.BytesSent),
                notModified.Count > 0 ? notModified.Average(l => (double)l.BytesSent) : double.NaN, o.FleetHosts / interval);
            phases = [.. phases.Select(p => WithBytes(p, log))];
            return new FleetResult(o.FleetHosts, interval, "HTTP/1.1 over loopback (no TLS)", window, phases, sim.Errors, sim.LastError, null);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            BenchContext.Say($"fleet FAILED: {e.Message}");
            return new FleetResult(o.FleetHosts, interval, "HTTP/1.1 over loopback (no TLS)", window, phases, sim.Errors, sim.LastError, e.Message);
        }
    }

    private static RolloutPhase Release(BenchContext ctx, FleetSimulator sim, Nginx nginx, BenchFeed feed, string version, int percent, TimeSpan timeout)
    {
        BenchContext.Say($"fleet: publish {version} at {percent}%, wait until every admitted host runs it");
        var wallFrom = Nginx.Now();
        var publish = feed.Publish(version, ctx.AgentBytes, rollout: percent);
        var t0 = sim.Now;
        var sequence = ReadSequence(feed);
        var admitted = sim.Hosts.Where(h => Admission.IsAdmitted(h.Id, version, percent)).ToHashSet();
        var complete = sim.WaitUntil(h => h.SeenSequence >= sequence && (!admitted.Contains(h) || h.Current == version), timeout);
        var seen = sim.Hosts.Where(h => h.SeenSequence >= sequence).Select(h => h.SeenAt - t0).ToList();
        var run = admitted.Where(h => h.Current == version).Select(h => h.RunningAt - t0).ToList();
        var archive = new FileInfo(Path.Combine(feed.Dir, feed.Download(version))).Length;
        return new RolloutPhase(version, percent, sim.Hosts.Length, admitted.Count, complete, publish.TotalSeconds,
            Stats.Median(seen), seen.Count > 0 ? seen.Max() : double.NaN,
            Stats.Median(run), Stats.Percentile(run, 90), Stats.Percentile(run, 99), run.Count > 0 ? run.Max() : double.NaN,
            0, 0, 0, archive, wallFrom, Nginx.Now());
    }

    private static RolloutPhase WithBytes(RolloutPhase p, List<AccessLine> log)
    {
        var lines = log.Where(l => l.Time >= p.WallFrom && l.Time <= p.WallTo).ToList();
        var artifacts = lines.Where(l => l.Path.StartsWith($"/agent/{p.Version}/", StringComparison.Ordinal)).ToList();
        var metadata = lines.Where(l => !l.Path.StartsWith("/agent/", StringComparison.Ordinal) && l.Status == 200).ToList();
        return p with { MetadataBytes = metadata.Sum(l => l.BytesSent), ArtifactBytes = artifacts.Sum(l => l.BytesSent), ArtifactDownloads = artifacts.Count };
    }

    private static long ReadSequence(BenchFeed feed)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(feed.Dir, "channels", "stable.json")));
        return doc.RootElement.GetProperty("sequence").GetInt64();
    }
}
