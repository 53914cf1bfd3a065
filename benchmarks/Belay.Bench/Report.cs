using System.Globalization;
using System.Text;
using static Belay.Bench.Stats;

namespace Belay.Bench;

/// <summary>Everything one run measured, for the report.</summary>
internal sealed record BenchResults(BenchOptions Options, MachineInfo Machine, string BuiltVersion, DateTime StartedUtc, TimeSpan Elapsed,
    FootprintResult? Footprint, SizeResult? Size, LatencyResult? Latency, FleetResult? Fleet, HubResult? Hub, HubScaleResult? HubScale, IReadOnlyList<string> Failures,
    IReadOnlyDictionary<string, double> PhaseSeconds);

/// <summary>
/// The Markdown report (benchmarks/results/DATE[-quick].md) and its memory plot (same name,
/// -memory.svg). Targets are reported PASS or MISS; nothing here fails the bench.
/// </summary>
internal static class Report
{
    /// <summary>The memory Belay aims at (issue 12), reported PASS or MISS.</summary>
    public const double PssTargetMb = 10;

    /// <summary>The done line for memory at steady state (issue 12).</summary>
    public const double PssDoneLineMb = 14;
    public const double CpuTargetPercent = 0.1;
    private const double MonthSeconds = 30 * 86_400;

    public static (string Markdown, string Svg, IReadOnlyList<string[]> Headline) Render(BenchResults r, string svgName)
    {
        var ic = CultureInfo.InvariantCulture;
        var b = new StringBuilder();
        void L(string line = "") => b.AppendLine(line);
        var o = r.Options;
        var headline = Headline(r);

        L($"# Belay benchmarks, {r.StartedUtc:yyyy-MM-dd} ({(o.Quick ? "quick" : o.Long ? "long" : "full")}{(o.Phases.Count < BenchOptions.AllPhases.Count ? ": " + string.Join(", ", o.Phases) + " only" : "")})");
        L();
        L($"`{o.Command}` on commit {r.Machine.Commit}, agent version {r.BuiltVersion}. The bench itself (after the publish it depends on) " +
          $"took {r.Elapsed.TotalMinutes:F1} min, started {r.StartedUtc:HH:mm} UTC " +
          $"(phases, wall: {string.Join(", ", r.PhaseSeconds.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} {p.Value:F0} s"))}). " +
          "How to read this: [benchmarks/README.md](../README.md).");
        if (r.Failures.Count > 0)
        {
            L();
            L("**Parts that did not complete:** " + string.Join("; ", r.Failures));
        }
        L();
        L("## Headline (suggested for the README)");
        L();
        Table(b, ["", "Belay", "side by side", "target", ""], headline);
        L();
        L("## Machine");
        L();
        var m = r.Machine;
        Table(b, ["", ""], [
            ["CPU", $"{m.Cpu}, {m.Cores} cores"], ["RAM", m.Ram], ["OS, kernel", $"{m.Os}, {m.Kernel}"], [".NET SDK", m.DotnetSdk],
            ["nginx, supervisord, curl", $"{m.Nginx}; supervisord {m.Supervisord}; {m.Curl}"], ["load average at start", m.LoadAtStart],
            ["commit", m.Commit]]);
        L();
        L("Other engineers' builds may share this machine; wall-clock figures (latency, fleet) move with its load. Memory and CPU time are per process and move far less.");

        Footprint(b, r, svgName);
        Size(b, r.Size);
        Latency(b, r.Latency, o);
        Fleet(b, r.Fleet);
        HubSection(b, r.Hub);
        HubScaleReport.Section(b, r.HubScale, svgName.Replace("-memory.svg", "-hubscale.svg", StringComparison.Ordinal));

        L();
        L("## Notes");
        L();
        L(o.Overlap
            ? "- The size (its compressors at nice 19) and latency benchmarks run while the footprint window is open (to fit the time budget). The footprint's CPU figures are each tree's own CPU time from /proc, which other load does not add to; its memory figures are unaffected. `--sequential` runs them one after another. The fleet benchmark runs alone."
            : "- Every benchmark ran alone (`--sequential`).");
        L("- Nothing here fails the build: a missed target is reported as MISS.");
        var svg = r.Footprint is { } f ? Plot(f) : SvgPlot.Render("Memory over time", "seconds", "MB", []);
        return (b.ToString(), svg, headline);
    }

    private static List<string[]> Headline(BenchResults r)
    {
        var rows = new List<string[]>();
        if (r.Footprint is { Error: null } f)
        {
            var belay = f.Subjects[0];
            var sup = f.Subjects[1];
            var curl = f.Subjects[2];
            var (what, pss, supPss) = MemoryFigure(f, r.Options);
            rows.Add([$"Memory: keeper + agent + 1 program + 1 deployed app, PSS ({what})", $"{F(pss)} MB",
                $"supervisord + program {F(supPss)} MB", $"≤ {PssTargetMb:0} MB (done line ≤ {PssDoneLineMb:0} MB)",
                $"{Verdict(pss <= PssTargetMb)} (≤ {PssDoneLineMb:0}: {Verdict(pss <= PssDoneLineMb)})"]);
            var cpu = CpuPercent(belay, f.WindowSeconds);
            var agentAlone = belay.CpuByProcess.TryGetValue("belay-agent", out var a) && belay.Polls > 0 ? $" (agent alone {F(1000 * a.Own / belay.Polls, 1)} ms)" : "";
            rows.Add([$"CPU, polling an HTTPS feed every 10 s (% of one core; per poll)", $"{F(cpu, 3)} %; {PerPoll(belay)}{agentAlone}",
                $"curl loop {F(CpuPercent(curl, f.WindowSeconds), 3)} %; {PerPoll(curl)}", $"< {CpuTargetPercent} %", Verdict(cpu < CpuTargetPercent)]);
        }
        if (r.Size?.Archives.FirstOrDefault(a => a.Rid == System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier) is { } archive)
        {
            rows.Add([$"Agent download ({archive.Rid} archive)", Mb(archive.Bytes), "", $"< {Mb(SizeBench.ArchiveBudget, 0)}", Verdict(archive.Bytes < SizeBench.ArchiveBudget)]);
        }
        if (r.Latency is { } l)
        {
            rows.Add([$"One-liner (install.sh) to a ready agent, median of {l.OneLiner.Count}", $"{F(Med(l.OneLiner))} s",
                $"curl + tar of the same bytes {F(Med(l.Floor))} s", "", ""]);
            rows.Add([$"Release on all {l.Agents} agents / bad release rolled back on all (median, 10 s poll)", $"{F(Med(l.Update))} s / {F(Med(l.Rollback))} s", "", "", ""]);
            rows.Add([$"Publish → app healthy on all {l.Agents} hosts (median of {l.AppDeploy.Count}, 10 s poll)", $"{F(Med(l.AppDeploy))} s", "", "", ""]);
        }
        if (r.Fleet is { } fl && fl.Phases.FirstOrDefault(p => p.Percent == 100) is { } full)
        {
            var tenth = fl.Phases.FirstOrDefault(p => p.Percent == 10);
            string Done(RolloutPhase? p) => p is null ? "n/a" : p.Complete ? $"{F(p.RunMax)} s" : "incomplete";
            rows.Add([$"{fl.Hosts:N0} simulated hosts: every admitted host runs a new release, 10 % / 100 % rollout",
                $"{Done(tenth)} / {Done(full)} ({Stats.Bytes(full.ArtifactBytes)} over loopback)",
                fl.Window is { } w ? $"{F(w.Requests / w.Seconds, 0)} req/s, {F(100.0 * w.NotModified / Math.Max(1, w.Requests))} % 304 between releases" : "", "", ""]);
        }
        if (r.Hub is { Error: null, With: { } with, Without: { } without } h)
        {
            rows.Add(["Agent PSS with the hub connection open (median; keeper + agent max)", $"{F(with.AgentPssMb)} MB; {F(with.TreePssMaxMb)} MB",
                $"the same agent without a hub {F(without.AgentPssMb)} MB; {F(without.TreePssMaxMb)} MB", $"≤ {PssTargetMb:0} MB (keeper + agent)",
                Verdict(with.TreePssMaxMb <= PssTargetMb)]);
            rows.Add([$"Hub memory per connected agent, {h.Agents:N0} simulated agents (PSS)", $"{F((h.HubLoadedPssMb - h.HubIdlePssMb) * 1024 / h.Agents, 1)} kB",
                $"hub {F(h.HubIdlePssMb)} MB idle, {F(h.HubLoadedPssMb)} MB with {h.Agents + 1:N0} agents", "", ""]);
            rows.Add([$"A program's write to the live-log reader (SSE client), {h.Lines:N0} lines, p50 / p99", $"{F(h.LatencyP50Ms, 0)} ms / {F(h.LatencyP99Ms, 0)} ms", "", "", ""]);
            if (h.Browser is { Lines: > 0 } br)
            {
                rows.Add([$"A program's write to the live-log page in headless Chromium, {br.Lines:N0} lines, p50 / p99", $"{F(br.P50Ms, 0)} ms / {F(br.P99Ms, 0)} ms", "", "", ""]);
            }
            if (h.Throughput is { NotMeasured: null, WithMbps.Count: > 0 } t)
            {
                rows.Add([$"A program's write throughput with a live log open whose reader takes {t.ReaderBytesPerSecond / 1000:N0} kB/s (median of {t.WithMbps.Count} bursts)",
                    $"{F(Stats.Median(t.WithMbps), 0)} MB/s", $"no live log open {F(Stats.Median(t.WithoutMbps), 0)} MB/s", "", ""]);
            }
        }
        HubScaleReport.Headline(rows, r.HubScale);
        return rows;
    }

    private static void HubSection(StringBuilder b, HubResult? h)
    {
        void L(string line = "") => b.AppendLine(line);
        L();
        L("## Hub");
        L();
        if (h is null)
        {
            L("Not run.");
            return;
        }
        if (h.Error is not null)
        {
            L($"Failed: {h.Error}");
            return;
        }
        L($"A belay-hub on loopback (NativeAOT, SQLite in its data folder). Two installations from one feed (`belay-release serve`), each with the same program writing a line every 20 ms; " +
          $"one enrolled with the hub (its connection open all along), one not. Their agents' PSS sampled every second over {F(h.WindowSeconds, 0)} s, side by side:");
        L();
        Table(b, ["", "agent PSS, median", "agent PSS, max", "keeper PSS, median", "keeper + agent PSS, max", "samples"],
            [.. new[] { h.Without!, h.With! }.Select(a => new[] { a.Name, $"{F(a.AgentPssMb, 2)} MB", $"{F(a.AgentPssMaxMb, 2)} MB", $"{F(a.KeeperPssMb, 2)} MB", $"{F(a.TreePssMaxMb, 2)} MB", a.Samples.ToString(CultureInfo.InvariantCulture) })]);
        L();
        L($"The connection's cost: {F((h.With!.AgentPssMb - h.Without!.AgentPssMb) * 1024, 0)} kB of agent PSS (median against median).");
        L();
        L($"**The hub's memory per connected agent.** {h.Agents:N0} simulated agents enrolled through the API (each batch of 25 from its own 127.0.x.y address: enrollment is rate-limited per address), " +
          $"then each holding one WebSocket after a hello and a state of about 1.4 kB, as a real agent sends (connected in {F(h.ConnectSeconds, 1)} s). The hub's memory is /proc/PID/smaps_rollup, " +
          "median of 10 samples a second apart, 10 s after the last connected:");
        L();
        Table(b, ["", "PSS", "RSS"], [
            ["1 agent (the enrolled installation)", $"{F(h.HubIdlePssMb)} MB", $"{F(h.HubIdleRssMb)} MB"],
            [$"{h.Agents + 1:N0} agents", $"{F(h.HubLoadedPssMb)} MB", $"{F(h.HubLoadedRssMb)} MB"],
            ["per connected agent", $"{F((h.HubLoadedPssMb - h.HubIdlePssMb) * 1024 / h.Agents, 1)} kB", $"{F((h.HubLoadedRssMb - h.HubIdleRssMb) * 1024 / h.Agents, 1)} kB"]]);
        L();
        L($"The hub's own CPU with them all connected and idle: {F(h.HubCpuPercent, 2)} % of one core.");
        L();
        L($"**Latency, a program's write to the reader.** The program stamps each line with the time it wrote it (`date +%s%N`, a line every {F(h.LineIntervalMs, 0)} ms); " +
          "the reader is an HTTP client on loopback reading the hub's SSE stream (`GET /api/v1/hosts/{id}/logs/clock`), taking the time each line arrives. " +
          "The path: the program's pipe, the agent's log pump, the log file, the agent's tail (it polls the file every 100 ms, as `belay logs -f` does), the WebSocket, the hub, the SSE response. " +
          "Then the same for a browser: headless Chromium (Debian's, through chromedriver) logged in on the hub's live-log page, whose own clock marks when each stamped line is complete in the page " +
          "(a MutationObserver on the log view); the same program, the next 1,000 lines.");
        L();
        List<string[]> rows = [["SSE client on loopback", h.Lines.ToString("N0", CultureInfo.InvariantCulture), $"{F(h.LatencyP50Ms, 0)} ms", $"{F(h.LatencyP99Ms, 0)} ms", $"{F(h.LatencyMaxMs, 0)} ms"]];
        if (h.Browser is { Lines: > 0 } br)
        {
            rows.Add(["the live-log page in headless Chromium", br.Lines.ToString("N0", CultureInfo.InvariantCulture), $"{F(br.P50Ms, 0)} ms", $"{F(br.P99Ms, 0)} ms", $"{F(br.MaxMs, 0)} ms"]);
        }
        Table(b, ["reader", "lines", "p50", "p99", "max"], rows);
        if (h.Browser?.NotMeasured is { } why)
        {
            L();
            L($"The browser's figure: {why}.");
        }
        if (h.Throughput is not { } t)
        {
            return;
        }
        L();
        L($"**A slow reader and the program's throughput.** The enrolled installation's `burst` program writes {t.Lines:N0} lines ({Stats.Bytes(t.BurstBytes)}) as fast as it can, " +
          "timing itself (`date +%s%N` before and after `seq`: its own write throughput into its pipe, which the agent's log pump drains into the log file). " +
          $"Bursts alternate between no live log open and one open through the hub whose reader takes {t.ReaderBytesPerSecond / 1000:N0} kB/s (an HTTP client on loopback with a 32 kB receive buffer), " +
          "in the order A B, B A, A B, … (a drifting load favours neither), " +
          "so that the agent runs out of credit and drops lines (`tail.skip`) instead of holding the program back.");
        L();
        if (t.NotMeasured is { } missing)
        {
            L($"Not measured: {missing}.");
            return;
        }
        string Each(IReadOnlyList<double> m) => string.Join(", ", m.Select(x => F(x, 0)));
        Table(b, ["", "bursts (MB/s)", "median"], [
            ["no live log open", Each(t.WithoutMbps), $"{F(Stats.Median(t.WithoutMbps), 0)} MB/s"],
            [$"a live log open, read at {t.ReaderBytesPerSecond / 1000:N0} kB/s", Each(t.WithMbps), $"{F(Stats.Median(t.WithMbps), 0)} MB/s"]]);
        L();
        L($"The slow reader got {Stats.Bytes(t.ReaderBytes)} and was told of {Stats.Bytes(t.SkippedBytes)} skipped.");
    }

    private static void Footprint(StringBuilder b, BenchResults r, string svgName)
    {
        void L(string line = "") => b.AppendLine(line);
        L();
        L("## Footprint");
        L();
        if (r.Footprint is not { } f)
        {
            L("Not run.");
            return;
        }
        if (f.Error is not null)
        {
            L($"Failed: {f.Error}");
            return;
        }
        L($"Three process trees side by side over the same {F(f.WindowSeconds, 0)} s window (after {r.Options.FootprintWarmup.TotalSeconds:0} s of warm-up), sampled every second:");
        L($"Belay installed by `belay install --scope user --service-manager none` from an HTTPS feed (nginx on loopback, a CA made for the run) at {f.FeedUrl}, " +
          $"with the product's default poll interval (10 s), one program in programs.conf (`{f.Program}`) and one app deployed to its group (a process that sleeps, its hooks, a health command; the agent polls the group document every 10 s beside its channel); Debian's supervisord " +
          $"(Debian's config layout: unix socket + RPC interface) running the same program; and `while :; do curl -s -o /dev/null URL/channels/stable.json; sleep 10; done`.");
        L("Memory is /proc/PID/smaps_rollup summed over each tree (Private = Private_Clean + Private_Dirty); CPU is utime + stime of the tree, children that exited included (cutime + cstime), over the window; polls are the tree's requests for channels/stable.json in nginx's access log over the window, and the connections they came on (as many connections as polls means a TLS handshake per poll).");
        L();
        var rows = new List<string[]>();
        foreach (var s in f.Subjects)
        {
            var pss = s.Samples.Select(x => x.PssMb).ToList();
            var rss = s.Samples.Select(x => x.RssMb).ToList();
            var priv = s.Samples.Select(x => x.PrivateMb).ToList();
            rows.Add([s.Name, s.What, $"{F(Median(rss))} / {F(rss.DefaultIfEmpty().Max())}", $"{F(Median(pss))} / {F(pss.DefaultIfEmpty().Max())}",
                $"{F(Median(priv))} / {F(priv.DefaultIfEmpty().Max())}", F(s.CpuSeconds, 2), F(CpuPercent(s, f.WindowSeconds), 3),
                s.Polling ? $"{s.Polls} ({s.Connections})" : "—", s.Polling ? PerPoll(s) : "—"]);
        }
        Table(b, ["tree", "processes", "RSS MB (median / max)", "PSS MB (median / max)", "private MB (median / max)", "CPU s", "% of one core", "polls (TLS connections)", "CPU per poll"], rows);
        L();
        var belay = f.Subjects[0];
        var (what, pssFigure, _) = MemoryFigure(f, r.Options);
        var cpu = CpuPercent(belay, f.WindowSeconds);
        L(r.Options.Long
            ? $"The window is long (`--long`): Belay's agent is {F(r.Options.FootprintWarmup.TotalSeconds, 0)} s old when it opens, and the steady state is the median over the samples taken once it has polled for {BenchOptions.SteadyAfter.TotalMinutes:0} minutes."
            : $"**This window is short**: the agent is at most {F((r.Options.FootprintWarmup + r.Options.FootprintWindow).TotalMinutes, 0)} minutes old at its end, so it shows a young agent, not the steady state after {BenchOptions.SteadyAfter.TotalMinutes:0} minutes of polling that the target is about; `./build.sh bench --long` measures that (a 30-minute window).");
        L();
        L($"Targets: Belay's tree at or under {PssTargetMb:0} MB PSS ({what}): **{Verdict(pssFigure <= PssTargetMb)}** ({F(pssFigure)} MB; the done line, {PssDoneLineMb:0} MB: {Verdict(pssFigure <= PssDoneLineMb)}); " +
          $"under {CpuTargetPercent} % of one core at a 10 s interval: **{Verdict(cpu < CpuTargetPercent)}** ({F(cpu, 3)} %). " +
          $"CPU time is counted in clock ticks of {1000 / ProcFs.TicksPerSecond:0} ms, so a short window resolves it coarsely.");
        L();
        // The keeper is belay-keeper (what `belay run` execs); a build from before it ran as belay.
        if ((belay.CpuByProcess.TryGetValue("belay-keeper", out var keeper) || belay.CpuByProcess.TryGetValue("belay", out keeper)) &&
            belay.CpuByProcess.TryGetValue("belay-agent", out var agent))
        {
            L($"Belay's CPU by process: the keeper (`belay run`, which does not poll) {F(keeper.Own, 2)} s, {F(1000 * keeper.Own / f.WindowSeconds, 2)} ms per second; " +
              $"the agent {F(agent.Own, 2)} s, {(belay.Polls > 0 ? F(1000 * agent.Own / belay.Polls, 1) : "n/a")} ms per poll " +
              $"({F(100 * agent.Own / f.WindowSeconds, 3)} % of one core on its own).");
            L();
        }
        L("Per process (PSS: median over the window; CPU: over the window, its own, and that of its children that exited and were waited for, like each curl and sleep of the loop):");
        L();
        Table(b, ["tree", "process", "PSS MB", "CPU s, own", "CPU s, exited children"], [.. f.Subjects.SelectMany(s => s.PssByProcess.OrderByDescending(p => Median(p.Value))
            .Select(p => s.CpuByProcess.TryGetValue(p.Key, out var c)
                ? new[] { s.Name, p.Key, F(Median(p.Value), 2), F(c.Own, 2), F(c.Children, 2) }
                : [s.Name, p.Key, F(Median(p.Value), 2), "—", "—"]))]);
        L();
        L($"![Memory over time]({svgName})");
        L();
        Breakdown(b, f, r.Options);
    }

    private static void Size(StringBuilder b, SizeResult? s)
    {
        void L(string line = "") => b.AppendLine(line);
        L();
        L("## Size");
        L();
        if (s is null)
        {
            L("Not run.");
            return;
        }
        L($"Budgets: each executable on disk ≤ {Mb(SizeBench.OnDiskBudget, 0)} (install.sh downloads `belay` uncompressed; every version folder holds a `belay-agent`), " +
          $"gzip -9 ≤ {Mb(SizeBench.GzipBudget, 0)}, xz -9 ≤ {Mb(SizeBench.XzBudget, 0)}; the agent archive (`belay-release package`, what every update downloads) < {Mb(SizeBench.ArchiveBudget, 0)}. MB = 10^6 bytes.");
        L();
        Table(b, ["RID", "build", "file", "on disk", "gzip -9", "xz -9", "budgets (disk / gz / xz)"], [.. s.Rows.Select(x => new[]
        {
            x.Rid, x.Build, x.File, Mb(x.OnDisk), Mb(x.Gzip), Mb(x.Xz),
            $"{Verdict(x.OnDisk <= SizeBench.OnDiskBudget)} / {Verdict(x.Gzip <= SizeBench.GzipBudget)} / {Verdict(x.Xz <= SizeBench.XzBudget)}",
        })]);
        L();
        Table(b, ["RID", "agent download", "bytes", "budget", "beside it, for older hosts and standard tools"], [.. s.Archives.Select(a => new[]
        {
            a.Rid, a.File, $"{a.Bytes:N0} ({Mb(a.Bytes)})", $"< {Mb(SizeBench.ArchiveBudget, 0)}: {Verdict(a.Bytes < SizeBench.ArchiveBudget)}",
            a.ClassicFile == a.File ? "" : $"{a.ClassicFile}, {a.ClassicBytes:N0} ({Mb(a.ClassicBytes)})",
        })]);
        if (s.Skipped.Count > 0)
        {
            L();
            L($"Not measured in this run (--quick measures the host's RID only): {string.Join(", ", s.Skipped)}.");
        }
    }

    private static void Latency(StringBuilder b, LatencyResult? l, BenchOptions o)
    {
        void L(string line = "") => b.AppendLine(line);
        L();
        L("## Latency");
        L();
        if (l is null)
        {
            L("Not run.");
            return;
        }
        if (l.Error is not null)
        {
            L($"Stopped early: {l.Error}");
            L();
        }
        L("Against an HTTPS feed on loopback (nginx; clients read the system's roots with the run's CA after them, as a host's store has 100 and more). Agents run the product's defaults: poll every 10 s ±10%, trial deadline 60 s, 3 tries. " +
          "A run's clock starts when the command starts (the one-liner, or `belay-release publish`) and stops when `belay status --json` shows the outcome on every agent (checked every 0.25 s).");
        L();
        Table(b, ["what", "runs (s)", "median", "min – max"], [
            Row($"one-liner: `curl -fsSL URL/install.sh | sh -s -- --user --prefix DIR --service-manager none`, until it returns (it waits until the agent is ready; `belay status --json` then checks that, untimed); it downloads {Stats.Bytes(l.DownloadBytes)} (the agent archive's compact form when the feed has one)", l.OneLiner),
            Row($"floor: curl {Stats.Bytes(l.FloorBytes)} (install.sh, the bootstrapper as install.sh downloads it, the agent's .tar.gz, which tar reads), `gzip -dc` the bootstrapper when it is the gzip copy and `tar -xzf` the archive", l.Floor),
            Row($"publish the next version until all {l.Agents} agents run it, committed and ready", l.Update),
            Row($"publish a bad version (its agent exits at once) until all {l.Agents} agents are back on the good one with it marked bad", l.Rollback),
            Row($"`belay-release deploy` of the next app release to the agents' group until `belay status --json` shows it converged on all {l.Agents} (fetched, unpacked, old stopped, new started, its hooks run, healthy for 1 s by its health command)", l.AppDeploy),
        ]);
        L();
        L($"`belay-release publish` itself took {F(Median(l.PublishSeconds), 2)} s (median). With a 10 s poll a host notices a release 0–11 s after it is published (5.5 s on average); " +
          "the rest is download, verification, the switch and the new agent's first feed check (its readiness).");
        if (l.RequestsPerUpdate.Count > 0)
        {
            L();
            L("What a real agent fetched for one update (round 1, per agent; V is the new version): the old agent's check, the download, then the new agent's first check, which starts without an ETag. The fleet simulator makes the same requests:");
            L();
            Table(b, ["request (status)", "per agent"], [.. l.RequestsPerUpdate.Select(x => new[] { $"`GET {x.Path}`", F(x.PerAgent, 1) })]);
        }
        var failures = l.OneLiner.Concat(l.Floor).Concat(l.Update).Concat(l.Rollback).Concat(l.AppDeploy).Where(t => t.Failure is not null).Select(t => t.Failure!).Distinct().ToList();
        if (failures.Count > 0)
        {
            L();
            L("Failed runs: " + string.Join("; ", failures.Select(x => x.Split('\n')[0])));
        }
        _ = o;
    }

    private static void Fleet(StringBuilder b, FleetResult? fl)
    {
        void L(string line = "") => b.AppendLine(line);
        L();
        L("## Fleet scale");
        L();
        if (fl is null)
        {
            L("Not run.");
            return;
        }
        if (fl.Error is not null)
        {
            L($"Stopped early: {fl.Error}");
            L();
        }
        L($"{fl.Hosts:N0} simulated agents in one process (benchmarks/Belay.Bench/FleetSimulator.cs) against nginx serving the feed, {fl.Transport}. " +
          $"Each checks channels/stable.json every {fl.IntervalSeconds:0} s ±10% with If-None-Match; on a changed manifest it fetches what a real agent fetches " +
          "(root.json, root.json.minisig, stable.json.minisig) and, when the rollout admits it (the product's formula, UpdatePolicy.IsAdmitted, restated in Admission.cs), downloads the whole artifact " +
          "and makes the new agent's first check (the manifest and the three files again: a new process has no ETag, as the real agents above show); then it counts as running the release. It does not verify, unpack, switch or run a trial (the latency benchmark times those on real agents).");
        L($"Errors during the run: {fl.Errors}{(fl.LastError is null ? "" : $" (last: {fl.LastError})")}.");
        L();
        if (fl.Window is { } w)
        {
            Table(b, ["between releases", "measured", "expected"], [
                ["window", $"{F(w.Seconds, 0)} s", ""],
                ["requests/s", F(w.Requests / w.Seconds, 1), $"{F(w.ExpectedPerSecond, 1)} (hosts / interval)"],
                ["share answered 304", $"{F(100.0 * w.NotModified / Math.Max(1, w.Requests), 2)} %", "100 %"],
                ["bytes/s sent by nginx (headers included)", Rate(w.Bytes / w.Seconds), ""],
                ["bytes per 304", F(w.Mean304Bytes, 0), ""],
            ]);
            L();
        }
        Table(b, ["release", "rollout", "admitted hosts", "all done", "saw the manifest (median / max)", "runs it: p50 / p90 / p99 / max", "metadata sent", "artifacts sent"],
            [.. fl.Phases.Select(p => new[]
            {
                p.Version, $"{p.Percent} %", p.Admitted.ToString("N0", CultureInfo.InvariantCulture), p.Complete ? "yes" : "**no (timed out)**",
                $"{F(p.SeenP50)} / {F(p.SeenMax)} s", $"{F(p.RunP50)} / {F(p.RunP90)} / {F(p.RunP99)} / {F(p.RunMax)} s",
                Stats.Bytes(p.MetadataBytes), $"{Stats.Bytes(p.ArtifactBytes)} ({p.ArtifactDownloads:N0} downloads)",
            })]);
        L();
        L("Times are from the end of `belay-release publish`. A host sees the release at its next check (0–11 s); the artifact downloads share 64 pooled connections over loopback, so whatever runs past 11 s is this machine's loopback bandwidth and load, not the protocol.");
        Extrapolation(b, fl);
    }

    private static void Extrapolation(StringBuilder b, FleetResult fl)
    {
        void L(string line = "") => b.AppendLine(line);
        if (fl.Window is not { } w || fl.Phases.FirstOrDefault(p => p.Percent == 100) is not { } full || full.ArtifactDownloads == 0)
        {
            return;
        }
        const double hosts = 1_000_000;
        var b304 = w.Mean304Bytes;
        var meta = full.MetadataBytes / (double)full.Hosts;
        var artifact = full.ArtifactBytes / (double)full.ArtifactDownloads;
        L();
        L("### Extrapolated to 1,000,000 hosts on a CDN");
        L();
        L($"Measured inputs: {F(b304, 0)} bytes per 304 (headers; nginx, HTTP/1.1 — a CDN's headers differ a little), " +
          $"{F(meta, 0)} bytes of metadata per host per release (the 200 manifest and the three files after it, twice for an admitted host), {F(artifact, 0)} bytes per artifact download. " +
          "Every host checks once per interval; a release reaches a host at its first check after the CDN serves the new manifest.");
        L();
        var rows = new List<string[]>();
        foreach (var interval in (double[])[10, 60])
        {
            var rps = hosts / interval;
            rows.Add([$"checks/s ({interval:0} s interval)", $"1,000,000 / {interval:0}", $"{N(rps)} req/s"]);
            rows.Add([$"steady egress ({interval:0} s)", $"{N(rps)} × {F(b304, 0)} B", $"{Rate(rps * b304)} = {F(rps * b304 * 8 / 1e6, 0)} Mbit/s"]);
            rows.Add([$"steady egress per 30 days ({interval:0} s)", $"× 2,592,000 s", $"{Stats.Bytes(rps * b304 * MonthSeconds)}, {N(rps * MonthSeconds / 1e9)} billion requests"]);
            rows.Add([$"a release seen by every host ({interval:0} s)", $"≤ 1.1 × {interval:0} s (+ CDN revalidation)", $"≤ {F(1.1 * interval, 0)} s"]);
            rows.Add([$"peak artifact egress if all download in that window ({interval:0} s)", $"1,000,000 × {Stats.Bytes(artifact)} / {F(1.1 * interval, 0)} s",
                $"{F(hosts * artifact * 8 / (1.1 * interval) / 1e12, 2)} Tbit/s"]);
        }
        rows.Add(["metadata per release", $"1,000,000 × {F(meta, 0)} B", Stats.Bytes(hosts * meta)]);
        rows.Add(["artifact egress per release, 100 %", $"1,000,000 × {Stats.Bytes(artifact)}", Stats.Bytes(hosts * artifact)]);
        rows.Add(["artifact egress per release, 10 % rollout", $"100,000 × {Stats.Bytes(artifact)}", Stats.Bytes(hosts * artifact / 10)]);
        Table(b, ["quantity", "arithmetic", "1,000,000 hosts"], rows);
        L();
        L($"Cross-check: the simulator's {fl.Hosts:N0} hosts made {F(w.Requests / w.Seconds, 0)} req/s against an expected {F(w.ExpectedPerSecond, 0)}, so the per-host rate above holds. " +
          "The peak artifact rows are what a CDN must absorb if every host fetches at once: a staged rollout (10 %, then more) divides it, and a CDN's per-edge caching makes the origin see one fetch per edge, not per host.");
    }

    private static readonly string[] Colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"];

    /// <summary>Belay and supervisord side by side on one scale: each tree's PSS and RSS, and each of its processes' PSS.</summary>
    private static string Plot(FootprintResult f) =>
        SvgPlot.RenderPanels("Memory over the footprint window, side by side (PSS unless said)", "seconds into the window", "MB",
            [.. f.Subjects.Take(2).Select(s => (s.Name + ": " + s.What, (IReadOnlyList<Series>)[
                new Series("tree PSS", [.. s.Samples.Select(x => (x.Seconds, x.PssMb))], "#d62728"),
                new Series("tree RSS", [.. s.Samples.Select(x => (x.Seconds, x.RssMb))], "#d62728", Dashed: true),
                .. s.PssSeries.OrderByDescending(p => Median(p.Value.Select(v => v.Mb))).Select((p, i) =>
                    new Series(p.Key, [.. p.Value], Colours[i % Colours.Length])),
            ]))]);

    /// <summary>
    /// The memory figure the targets are judged on: with --long, the median over the samples taken once the
    /// agent has polled for <see cref="BenchOptions.SteadyAfter"/> (the steady state); otherwise the median over
    /// the (short) window. Returns what it is, Belay's figure and supervisord's over the same samples.
    /// </summary>
    internal static (string What, double Belay, double Supervisord) MemoryFigure(FootprintResult f, BenchOptions o)
    {
        var from = o.Long ? Math.Max(0, (BenchOptions.SteadyAfter - o.FootprintWarmup).TotalSeconds) : 0;
        double Of(Subject s) => Median(s.Samples.Where(x => x.Seconds >= from).Select(x => x.PssMb));
        var what = o.Long
            ? $"steady state: median from {BenchOptions.SteadyAfter.TotalMinutes:0} to {(o.FootprintWarmup + o.FootprintWindow).TotalMinutes:0} min of polling"
            : $"median over a short {F(f.WindowSeconds / 60, 0)}-min window; max {F(f.Subjects[0].Samples.Max(x => x.PssMb))} MB; steady state: --long";
        return (what, Of(f.Subjects[0]), Of(f.Subjects[1]));
    }

    /// <summary>Each process's PSS by where it goes (<see cref="Smaps"/>): medians of the breakdowns over the window.</summary>
    private static void Breakdown(StringBuilder b, FootprintResult f, BenchOptions o)
    {
        void L(string line = "") => b.AppendLine(line);
        var rows = new List<string[]>();
        foreach (var s in f.Subjects.Take(2))
        {
            foreach (var (process, samples) in s.Breakdown.OrderByDescending(p => p.Value.Sum(x => x.Kb.Values.Sum())))
            {
                var from = o.Long ? Math.Max(0, (BenchOptions.SteadyAfter - o.FootprintWarmup).TotalSeconds) : 0;
                var used = samples.Where(x => x.Seconds >= from).ToList();
                if (used.Count == 0)
                {
                    continue;
                }
                var medians = Smaps.Categories.Select(c => Median(used.Select(x => x.Kb[c] / 1024.0))).ToList();
                rows.Add([s.Name, process, .. medians.Select(m => F(m, 2)), F(Median(used.Select(x => x.Kb.Values.Sum() / 1024.0)), 2)]);
            }
        }
        L($"Where each process's PSS goes (MB, medians of /proc/PID/smaps read every {F(o.BreakdownEvery.TotalSeconds, 0)} s{(o.Long ? ", steady state" : "")}; " +
          "benchmarks/Belay.Bench/Smaps.cs says how mappings are sorted; for python, text and data are the interpreter's own and its objects are in malloc and other):");
        L();
        Table(b, ["tree", "process", .. Smaps.Categories, "total"], rows);
        L();
        L("Why each part is there, and what Belay did about it: docs/architecture.md, \"Footprint\".");
    }

    private static double CpuPercent(Subject s, double window) => window > 0 ? 100 * s.CpuSeconds / window : double.NaN;

    private static string PerPoll(Subject s) => s.Polls > 0 ? $"{F(1000 * s.CpuSeconds / s.Polls, 1)} ms CPU/poll" : "no polls";

    private static double Med(IReadOnlyList<Timed> runs) => Median(runs.Where(t => !double.IsNaN(t.Seconds)).Select(t => t.Seconds));

    private static string[] Row(string what, IReadOnlyList<Timed> runs)
    {
        var ok = runs.Where(t => !double.IsNaN(t.Seconds)).Select(t => t.Seconds).ToList();
        return [what, string.Join(", ", runs.Select(t => double.IsNaN(t.Seconds) ? "failed" : F(t.Seconds, 2))), ok.Count > 0 ? F(Median(ok), 2) : "n/a",
            ok.Count > 0 ? $"{F(ok.Min(), 2)} – {F(ok.Max(), 2)}" : "n/a"];
    }

    public static void Table(StringBuilder b, string[] header, IEnumerable<string[]> rows)
    {
        b.AppendLine("| " + string.Join(" | ", header) + " |");
        b.AppendLine("|" + string.Concat(header.Select(_ => "---|")));
        foreach (var row in rows)
        {
            b.AppendLine("| " + string.Join(" | ", row.Select(c => c.Replace("|", "\\|", StringComparison.Ordinal))) + " |");
        }
    }
}
