using System.Globalization;
using System.Text;
using static Belay.Bench.Stats;

namespace Belay.Bench;

/// <summary>The paper arithmetic from the measured figures to 1,000,000 hosts (pure, so it is tested).</summary>
internal static class HubScaleMath
{
    public const double Hosts = 1_000_000;

    /// <summary>The node the arithmetic sizes for: a common VM.</summary>
    public const int NodeCores = 8;
    public const double NodeMemoryGb = 32;

    /// <summary>How full a node is run: half its memory and cores, so that the survivors take a dead node's share.</summary>
    public const double Headroom = 0.5;

    /// <summary>Hosts one node holds by memory (PSS per connection) and by CPU (% of one core per 1,000 idle agents), whichever is less.</summary>
    public static (double ByMemory, double ByCpu) HostsPerNode(double kbPerConnection, double cpuPercentPer1000) =>
        (NodeMemoryGb * 1024 * 1024 * Headroom / kbPerConnection, NodeCores * 100 * Headroom / cpuPercentPer1000 * 1000);

    /// <summary>Nodes for <paramref name="hosts"/>: enough for all of them at the headroom, plus one to lose.</summary>
    public static int Nodes(double hosts, double hostsPerNode) => (int)Math.Ceiling(hosts / hostsPerNode) + 1;

    /// <summary>Keepalive bytes a host costs a second on the wire: the agent pings every 20 s, the hub every 30 s, each answered (a frame in a TCP segment, 52 bytes of IPv4 + TCP with timestamps).</summary>
    public static double KeepaliveBytesPerSecond()
    {
        const double segment = 52;
        const double clientPing = 2 + 4 + 8; // masked, an 8-byte payload
        const double serverPong = 2 + 8;
        const double serverPing = 2;
        const double clientPong = 2 + 4;
        return ((clientPing + serverPong + (2 * segment)) / 20) + ((serverPing + clientPong + (2 * segment)) / 30);
    }

    /// <summary>State bytes a host costs a second: a state frame (masked) in a segment every poll interval.</summary>
    public static double StateBytesPerSecond(int stateBytes, double pollSeconds) => (stateBytes + 8 + 52) / pollSeconds;
}

/// <summary>The hubscale section of the report and its plot.</summary>
internal static class HubScaleReport
{
    public static void Headline(List<string[]> rows, HubScaleResult? h)
    {
        if (h?.Postgres is { } pg)
        {
            rows.Add([$"Hub at scale: {pg.Agents:N0} agents on two nodes + PostgreSQL: memory per connection, CPU per 1,000 idle agents",
                $"{F(pg.PssPerAgentKb, 1)} kB PSS; {F(pg.CpuPer1000Percent, 2)} % of a core", h.Sqlite is { } s ? $"one SQLite node {F(s.PssPerAgentKb, 1)} kB; {F(s.CpuPer1000Percent, 2)} %" : "", "", ""]);
            rows.Add([$"Hub at scale: poke, API call to the agent, p50 / p99 (node holding the host; the other node)",
                $"{F(Percentile(pg.PokeLocalMs, 50), 0)} / {F(Percentile(pg.PokeLocalMs, 99), 0)} ms; {F(Percentile(pg.PokeRemoteMs, 50), 0)} / {F(Percentile(pg.PokeRemoteMs, 99), 0)} ms",
                h.Sqlite is { } s2 ? $"one SQLite node {F(Percentile(s2.PokeLocalMs, 50), 0)} / {F(Percentile(s2.PokeLocalMs, 99), 0)} ms" : "", "", ""]);
        }
        if (h?.Storm is { } st)
        {
            rows.Add([$"Hub at scale: one of two nodes SIGKILLed, its {st.Moved:N0} agents all on the other", $"{F(st.AllBackSeconds, 1)} s, {st.Errors} errors", "", "", ""]);
        }
    }

    public static void Section(StringBuilder b, HubScaleResult? h, string svgName)
    {
        void L(string line = "") => b.AppendLine(line);
        L();
        L("## Hub at fleet scale");
        L();
        if (h is null)
        {
            L("Not run.");
            return;
        }
        if (h.Error is not null)
        {
            L($"**Did not complete:** {h.Error}");
            L();
        }
        var runs = new[] { h.Postgres, h.Sqlite }.OfType<ScaleRun>().ToList();
        L($"{h.Agents:N0} simulated agents in one process (benchmarks/Belay.Bench/SimFleet.cs: one async loop and one WebSocket each, no thread each) that speak the real protocol: " +
          "each enrolled through the API with an enrollment token, 25 from each 127.1.x.y source address (the hub allows an address 30 enrollments a minute, and the spread keeps clear of one address's ephemeral ports), " +
          $"then connected with its credential, keepalive as the agent's (a ping every 20 s, 10 s for the pong), a hello and a state ({runs.FirstOrDefault()?.StateBytes ?? 0:N0} bytes, as a real agent's with two programs); " +
          "then a new state every poll interval (10 s) ±10 % as an agent on the default poll interval sends one (each feed check changes the state's `lastCheck`). " +
          $"First on two belay-hub nodes sharing one PostgreSQL ({h.PostgresVersion}, started by the bench as the tests start theirs: initdb into a temp folder, as nobody when the bench runs as root, a random port, fsync off), " +
          "alternately on each as a round-robin load balancer would send them; then the same number on one node with SQLite, the default. " +
          $"Open files allowed (`ulimit -n`, raised to the hard limit by bench.sh): {h.FdLimit:N0}; the simulator holds one descriptor per agent and a single hub one per agent.");
        L();
        L($"PostgreSQL ran with max_connections {h.PostgresMaxConnections} (its default); the two nodes held at most {h.PeakHubConnections} connections to it (sampled every second). " +
          $"Warnings and errors in the hubs' own logs over the run: {string.Join(", ", h.LogProblems.Select(kv => $"{kv.Key} {kv.Value}"))}.");
        L();
        if (runs.Count > 0)
        {
            var header = new List<string> { "" };
            header.AddRange(runs.Select(r => r.Name));
            var rows = new List<string[]>
            {
                Cells("enrolled through the API (4 at a time)", runs, r => $"{F(r.EnrollSeconds, 1)} s ({F(r.Agents / r.EnrollSeconds, 0)}/s)"),
                Cells("connected (hello and state sent)", runs, r => $"{F(r.ConnectSeconds, 1)} s"),
                Cells("hub PSS idle → with all connected (all nodes)", runs, r => $"{F(r.IdlePssMb)} → {F(r.LoadedPssMb)} MB"),
                Cells("**hub memory per connection, PSS** (RSS)", runs, r => $"**{F(r.PssPerAgentKb, 1)} kB** ({F(r.RssPerAgentKb, 1)} kB)"),
                Cells($"hub CPU, all idle (% of one core, all nodes, over {F(runs[0].CpuWindowSeconds, 0)} s)", runs, r => $"{F(r.HubCpuPercent, 2)} %"),
                Cells("**hub CPU per 1,000 idle agents**", runs, r => $"**{F(r.CpuPer1000Percent, 2)} %**"),
                Cells("PostgreSQL CPU (all its processes)", runs, r => double.IsNaN(r.DatabaseCpuPercent) ? "" : $"{F(r.DatabaseCpuPercent, 2)} %"),
                Cells("states from the agents", runs, r => $"{F(r.StatesPerSecond, 0)}/s"),
                Cells("PostgreSQL rows written (by table)", runs, r => r.DbRowsPerSecond.Count == 0 ? "" :
                    $"{F(r.DbRowsPerSecond.Values.Sum(), 0)}/s ({string.Join(", ", r.DbRowsPerSecond.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {F(kv.Value, 1)}"))})"),
                Cells("PostgreSQL transactions (reads included)", runs, r => double.IsNaN(r.DbCommitsPerSecond) ? "" : $"{F(r.DbCommitsPerSecond, 1)}/s"),
                Cells("**poke, API call → agent, node holding the host: p50 / p99 / n**", runs, r => $"**{F(Percentile(r.PokeLocalMs, 50), 1)} / {F(Percentile(r.PokeLocalMs, 99), 1)} ms** / {r.PokeLocalMs.Count}"),
                Cells("**poke through the node that does not hold it: p50 / p99 / n**", runs, r => r.PokeRemoteMs.Count == 0 ? "(one node)" :
                    $"**{F(Percentile(r.PokeRemoteMs, 50), 1)} / {F(Percentile(r.PokeRemoteMs, 99), 1)} ms** / {r.PokeRemoteMs.Count}"),
                Cells("pokes failed (no answer, or not delivered in 10 s)", runs, r => r.PokeErrors.ToString(CultureInfo.InvariantCulture)),
                Cells("connection errors (failed connects, closes by a live node)", runs, r => r.Errors.Count == 0 ? "0" : string.Join("; ", r.Errors.Select(kv => $"{kv.Key}: {kv.Value}"))),
                Cells("the simulator's own RSS", runs, r => $"{F(r.SimulatorRssMb, 0)} MB"),
            };
            Report.Table(b, [.. header], rows);
            L();
            L($"![hub memory as agents connect]({svgName})");
            L();
            L("Memory is /proc/PID/smaps_rollup of the hub processes (summed over the nodes), the median of samples 2 s apart over the CPU window, after the last agent connected and 15 s of settling; " +
              "CPU is utime + stime from /proc/PID/stat over that window (PostgreSQL's: the postmaster and all its backends). " +
              "A poke is timed from just before the API call (`POST /api/v1/hosts/{id}/poke` with an operator token) to the simulated agent's receipt of the `poke` frame, one at a time, 25 a second (the API allows an operator 50), " +
              "alternating between the nodes' APIs over random hosts, so that about half go through the node that does not hold the host (there the poke goes to the other node by PostgreSQL NOTIFY).");
        }
        if (h.Tails is { } t)
        {
            L();
            L($"**Live tails through the other node.** {t.Opened} of {t.Tails} live logs (`GET /api/v1/hosts/{{id}}/logs/web`, SSE) of hosts held by node A, read through node B at once for {F(t.WindowSeconds, 0)} s. " +
              $"Each simulated agent answers the `tail.open` as the agent does: `tail.data` frames with their byte offsets within the credit the hub gives, here a line stamped with the time it was written every {F(SimFleet.TailEvery.TotalMilliseconds, 0)} ms; " +
              "the reader takes the time each line arrives. The path: the agent's WebSocket to node A, NOTIFY through PostgreSQL, node B, the SSE response.");
            L();
            Report.Table(b, ["tails", "lines sent", "lines read", "p50", "p99", "max", "lines held back for credit"],
                [[$"{t.Opened}", N(t.LinesSent), N(t.LatencyMs.Count), $"{F(Percentile(t.LatencyMs, 50), 1)} ms", $"{F(Percentile(t.LatencyMs, 99), 1)} ms",
                    $"{F(t.LatencyMs.Count == 0 ? double.NaN : t.LatencyMs.Max(), 0)} ms", N(t.Stalled)]]);
        }
        if (h.Storm is { } s)
        {
            L();
            L($"**The reconnect storm.** Node A SIGKILLed while it held {s.Moved:N0} agents. Each reconnects as the agent does (core/Hub/Backoff.cs compiled into the simulator: full jitter, the first wait in [0.25, 1] s after a connection that stayed up a minute, doubling to a 5 min cap); " +
              "its next try goes to the live node, as nginx's `proxy_next_upstream error` passes a refused connection on (docs/hub.md's reference deployment).");
            L();
            Report.Table(b, ["", ""], [
                ["every agent of node A connected to node B (hello and state sent)", $"{F(s.AllBackSeconds, 1)} s after the kill"],
                ["node B's API counts every agent connected", $"{F(s.HubSeesAllSeconds, 1)} s after the kill"],
                ["reconnect time after the kill, p50 / p99 / max", $"{F(Percentile(s.ReconnectSeconds, 50), 2)} / {F(Percentile(s.ReconnectSeconds, 99), 2)} / {F(s.ReconnectSeconds.Count == 0 ? double.NaN : s.ReconnectSeconds.Max(), 2)} s"],
                ["errors beyond the reconnects (failed connects to the live node, closes by it)", s.Errors == 0 ? "0" : $"{s.Errors} ({string.Join("; ", s.ErrorKinds.Select(kv => $"{kv.Key}: {kv.Value}"))})"],
                ["pokes through node B to a sample of the moved hosts, afterwards", $"{s.PokesAfterOk} of {s.PokesAfter} delivered"]]);
        }
        if (h.Postgres is { } pg && h.Sqlite is { } sq)
        {
            L();
            L("**SQLite against PostgreSQL, same load.** " +
              $"Per connection {F(sq.PssPerAgentKb, 1)} kB on SQLite, {F(pg.PssPerAgentKb, 1)} kB on two PostgreSQL nodes; idle CPU per 1,000 agents {F(sq.CpuPer1000Percent, 2)} % against {F(pg.CpuPer1000Percent, 2)} % (plus PostgreSQL's {F(pg.DatabaseCpuPercent, 2)} %); " +
              $"poke p99 {F(Percentile(sq.PokeLocalMs, 99), 1)} ms against {F(Percentile(pg.PokeLocalMs, 99), 1)} ms; enrollment {F(sq.Agents / sq.EnrollSeconds, 0)}/s against {F(pg.Agents / pg.EnrollSeconds, 0)}/s. " +
              "What one SQLite node cannot give at any size: a second node, so no failover and no storm to survive; and its limits are one process's (one machine's cores, memory and file descriptors) " +
              "and one writer, which takes every state batch, enrollment and audit row in turn.");
        }
        if (h.Postgres is { } p)
        {
            Extrapolation(b, p);
        }
    }

    private static void Extrapolation(StringBuilder b, ScaleRun p)
    {
        void L(string line = "") => b.AppendLine(line);
        var (byMemory, byCpu) = HubScaleMath.HostsPerNode(p.PssPerAgentKb, p.CpuPer1000Percent);
        var perNode = Math.Min(byMemory, byCpu);
        var nodes = HubScaleMath.Nodes(HubScaleMath.Hosts, perNode);
        var rowsPerAgent = p.DbRowsPerSecond.Values.Sum() / p.Agents;
        var statesPerAgent = p.StatesPerSecond / p.Agents;
        var keepalive = HubScaleMath.KeepaliveBytesPerSecond();
        var states = HubScaleMath.StateBytesPerSecond(p.StateBytes, 1 / Math.Max(statesPerAgent, 1e-9));
        L();
        L("### Extrapolated to 1,000,000 hosts");
        L();
        L($"Measured inputs (two nodes, PostgreSQL): {F(p.PssPerAgentKb, 1)} kB of hub PSS per connection, {F(p.CpuPer1000Percent, 2)} % of one core per 1,000 idle agents, " +
          $"{F(statesPerAgent, 3)} states a second per host (the default 10 s poll), {F(rowsPerAgent, 3)} PostgreSQL rows written a second per host, a state frame of {p.StateBytes:N0} bytes. " +
          $"A node is sized as an {HubScaleMath.NodeCores}-core, {HubScaleMath.NodeMemoryGb:0} GB machine run at half its memory and cores (so that when one dies, the others take its share), plus one node to lose.");
        L();
        Report.Table(b, ["quantity", "arithmetic", "1,000,000 hosts"], [
            ["hosts per node by memory", $"{HubScaleMath.NodeMemoryGb:0} GB × {HubScaleMath.Headroom} / {F(p.PssPerAgentKb, 1)} kB", N(byMemory)],
            ["hosts per node by CPU", $"{HubScaleMath.NodeCores} cores × {HubScaleMath.Headroom} / ({F(p.CpuPer1000Percent, 2)} % per 1,000)", N(byCpu)],
            ["**hub nodes**", $"⌈1,000,000 / {N(perNode)}⌉ + 1", $"**{nodes}**"],
            ["states reaching the hubs", $"1,000,000 × {F(statesPerAgent, 3)}/s", $"{N(HubScaleMath.Hosts * statesPerAgent)}/s"],
            ["**PostgreSQL rows written**", $"1,000,000 × {F(rowsPerAgent, 3)}/s", $"**{N(HubScaleMath.Hosts * rowsPerAgent)}/s**, in one transaction per node every 2 s (the state batches)"],
            ["state bytes into PostgreSQL", $"× {p.StateBytes:N0} B", Rate(HubScaleMath.Hosts * statesPerAgent * p.StateBytes)],
            ["keepalive bandwidth (pings both ways, on the wire)", $"1,000,000 × {F(keepalive, 1)} B/s", $"{Rate(HubScaleMath.Hosts * keepalive)} = {F(HubScaleMath.Hosts * keepalive * 8 / 1e6, 0)} Mbit/s"],
            ["state bandwidth (a state per poll, on the wire)", $"1,000,000 × {F(states, 1)} B/s", $"{Rate(HubScaleMath.Hosts * states)} = {F(HubScaleMath.Hosts * states * 8 / 1e6, 0)} Mbit/s"],
            ["file descriptors per node", $"{N(perNode)} connections", $"{N(perNode)} + the node's own (set LimitNOFILE accordingly)"]]);
        L();
        L("What this says: memory and CPU per connection put a million hosts on a handful of nodes; what grows with the fleet and not with the nodes is the state traffic. " +
          "With the agent's default 10 s poll, every check changes `lastCheck`, so every host sends a state every 10 s and the hub writes it: the batching turns that into few transactions, not into fewer rows. " +
          "At a million hosts that is the PostgreSQL write rate above, which one server takes only with care (fast storage, `synchronous_commit` as the operator chooses); " +
          "a fleet that size runs a longer poll interval (60 s divides it by six), and a hub that wrote a host's state only when more than `lastCheck` changed would cut it to what actually changes.");
    }

    private static string[] Cells(string label, List<ScaleRun> runs, Func<ScaleRun, string> cell) => [label, .. runs.Select(cell)];

    /// <summary>The hubs' memory as agents connect: two nodes on PostgreSQL (summed) and one on SQLite.</summary>
    public static string Plot(HubScaleResult h)
    {
        var series = new List<Series>();
        if (h.Postgres is { } pg)
        {
            series.Add(new Series("two nodes + PostgreSQL (sum)", pg.Ramp, "#1f77b4"));
        }
        if (h.Sqlite is { } sq)
        {
            series.Add(new Series("one node, SQLite", sq.Ramp, "#ff7f0e"));
        }
        return SvgPlot.Render($"Hub memory as {h.Agents:N0} simulated agents connect (PSS)", "agents connected", "MB", series);
    }
}
