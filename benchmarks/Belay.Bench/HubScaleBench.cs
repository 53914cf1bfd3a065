using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Belay.Bench;

/// <summary>One backend's figures: the hub nodes with N simulated agents connected.</summary>
internal sealed record ScaleRun(
    string Name, int Nodes, int Agents, double EnrollSeconds, double ConnectSeconds, int Connected,
    double IdlePssMb, double LoadedPssMb, double IdleRssMb, double LoadedRssMb, double CpuWindowSeconds, double HubCpuPercent, double DatabaseCpuPercent,
    IReadOnlyList<double> PokeLocalMs, IReadOnlyList<double> PokeRemoteMs, int PokeErrors,
    IReadOnlyList<(double Agents, double PssMb)> Ramp, IReadOnlyDictionary<string, int> Errors, double SimulatorRssMb,
    double StatesPerSecond, IReadOnlyDictionary<string, double> DbRowsPerSecond, double DbCommitsPerSecond, int StateBytes)
{
    public double PssPerAgentKb => Agents == 0 ? double.NaN : (LoadedPssMb - IdlePssMb) * 1024 / Agents;
    public double RssPerAgentKb => Agents == 0 ? double.NaN : (LoadedRssMb - IdleRssMb) * 1024 / Agents;
    public double CpuPer1000Percent => Agents == 0 ? double.NaN : HubCpuPercent * 1000 / Agents;
}

/// <summary>The reconnect storm: one node killed, its agents onto the other.</summary>
internal sealed record StormFigures(int Moved, double AllBackSeconds, double HubSeesAllSeconds, IReadOnlyList<double> ReconnectSeconds, int Errors,
    IReadOnlyDictionary<string, int> ErrorKinds, int PokesAfter, int PokesAfterOk);

/// <summary>Live tails read through the node that does not hold their hosts.</summary>
internal sealed record TailFigures(int Tails, int Opened, double WindowSeconds, IReadOnlyList<double> LatencyMs, long LinesSent, long Stalled);

internal sealed record HubScaleResult(int Agents, ScaleRun? Postgres, StormFigures? Storm, TailFigures? Tails, ScaleRun? Sqlite, string PostgresVersion,
    int FdLimit, int PostgresMaxConnections, int PeakHubConnections, IReadOnlyDictionary<string, int> LogProblems, string? Error);

/// <summary>
/// The hub at fleet scale (issue 15, item 4), side by side in one run, all on loopback:
/// <list type="number">
/// <item>N simulated agents (<see cref="SimFleet"/>) on two belay-hub nodes sharing one PostgreSQL
/// (started like the tests', <see cref="BenchPostgres"/>), half on each: the nodes' memory as they
/// connect and per connection, their CPU idle over a window, and pokes from the API of either node
/// (the one that holds the host and the one that does not) to the agent's receipt;</item>
/// <item>100 live tails read through the node that does not hold their hosts;</item>
/// <item>a reconnect storm: one node SIGKILLed, the time until all its agents are on the other;</item>
/// <item>the same N on one node with SQLite (the default).</item>
/// </list>
/// </summary>
internal static class HubScaleBench
{
    public const int TailCount = 100;

    public static HubScaleResult Run(BenchContext ctx)
    {
        var o = ctx.Options;
        var agents = o.HubScaleAgents;
        var dir = ctx.Dir("hubscale");
        var hubExe = Path.Combine(o.BinDir, "belay-hub");
        if (!File.Exists(hubExe))
        {
            throw new InvalidOperationException($"{hubExe} is missing: run ./build.sh publish first");
        }
        var fdLimit = FdLimit();
        if (fdLimit < agents + 1000)
        {
            BenchContext.Say($"hubscale: only {fdLimit} open files allowed (ulimit -n): {agents} agents need about {agents + 1000} in the simulator and in a single hub; raise it (bench.sh raises the soft limit to the hard one)");
        }
        string pgVersion = "";
        ScaleRun? pg = null, sqlite = null;
        StormFigures? storm = null;
        TailFigures? tails = null;
        var errors = new List<string>();
        var peak = 0;
        try
        {
            using var postgres = new BenchPostgres(MaxConnections);
            pgVersion = postgres.Version;
            BenchContext.Say($"hubscale: {pgVersion} on 127.0.0.1:{postgres.Port}, max_connections {MaxConnections} (its default)");
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(() =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    if (int.TryParse(TryQuery(postgres, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'belay-hub'"), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                    {
                        peak = Math.Max(peak, n);
                    }
                    sampling.Token.WaitHandle.WaitOne(1000);
                }
            });
            try
            {
                (pg, storm, tails) = TwoNodes(ctx, hubExe, dir, postgres, agents);
            }
            finally
            {
                sampling.Cancel();
                sampler.Wait();
            }
            BenchContext.Say($"hubscale: the nodes held at most {peak} PostgreSQL connections");
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException or AggregateException or JsonException or TaskCanceledException)
        {
            BenchContext.Say($"hubscale: two nodes on PostgreSQL FAILED: {e.Message}");
            errors.Add("PostgreSQL: " + e.Message.Split('\n')[0]);
        }
        try
        {
            sqlite = OneNode(ctx, hubExe, dir, agents);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException or AggregateException or JsonException or TaskCanceledException)
        {
            BenchContext.Say($"hubscale: one node on SQLite FAILED: {e.Message}");
            errors.Add("SQLite: " + e.Message.Split('\n')[0]);
        }
        var problems = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var log in (string[])["node-a.log", "node-b.log", "sqlite.log"])
        {
            var path = Path.Combine(dir, log);
            if (File.Exists(path))
            {
                problems[log] = File.ReadLines(path).Count(l => l.Contains(" ERR ", StringComparison.Ordinal) || l.Contains(" WRN ", StringComparison.Ordinal) || l.Contains(" FTL ", StringComparison.Ordinal));
            }
        }
        BenchContext.Say($"hubscale: warnings and errors in the hubs' logs: {string.Join(", ", problems.Select(kv => $"{kv.Key} {kv.Value}"))}");
        return new HubScaleResult(agents, pg, storm, tails, sqlite, pgVersion, fdLimit, MaxConnections, peak, problems, errors.Count == 0 ? null : string.Join("; ", errors));
    }

    /// <summary>PostgreSQL's default max_connections: the nodes must fit in it.</summary>
    private const int MaxConnections = 100;

    private static string? TryQuery(BenchPostgres postgres, string sql)
    {
        try
        {
            return postgres.Query("belay_hub", sql);
        }
        catch (InvalidOperationException e)
        {
            BenchContext.Say($"hubscale: psql: {e.Message.Split('\n').LastOrDefault(l => l.Length > 0)}");
            return null;
        }
    }

    private static (ScaleRun, StormFigures?, TailFigures?) TwoNodes(BenchContext ctx, string hubExe, string dir, BenchPostgres postgres, int agents)
    {
        var o = ctx.Options;
        var database = postgres.CreateDatabase("belay_hub");
        var dataA = Path.Combine(dir, "node-a");
        var dataB = Path.Combine(dir, "node-b");
        Shell.Check(hubExe, ["migrate", "--database", database, "--data", dataA]);
        Shell.Check(hubExe, ["user", "add", "bench", "--role", "admin", "--database", database, "--data", dataA]);
        var apiToken = Shell.Check(hubExe, ["user", "token", "bench", "--name", "bench", "--database", database, "--data", dataA]).StdOut.Trim();
        var enrollToken = Shell.Check(hubExe, ["token", "create", "--group", "bench", "--uses", (agents + 10).ToString(CultureInfo.InvariantCulture),
            "--database", database, "--data", dataA]).StdOut.Trim();
        var a = Shell.Start(hubExe, ["serve", "--database", database, "--data", dataA, "--listen", "127.0.0.1:0"], Path.Combine(dir, "node-a.log"));
        var b = Shell.Start(hubExe, ["serve", "--database", database, "--data", dataB, "--listen", "127.0.0.1:0"], Path.Combine(dir, "node-b.log"));
        SimFleet? fleet = null;
        try
        {
            string[] urls = [HubBench.WaitForUrl(Path.Combine(dir, "node-a.log"), a), HubBench.WaitForUrl(Path.Combine(dir, "node-b.log"), b)];
            BenchContext.Say($"hubscale: node A at {urls[0]} (pid {a.Id}), node B at {urls[1]} (pid {b.Id}), one PostgreSQL");
            using var apiA = Api(urls[0], apiToken);
            using var apiB = Api(urls[1], apiToken);
            int[] pids = [a.Id, b.Id];
            fleet = new SimFleet(urls, HubBench.SimulatedState("{AT}"), o.HubScalePoll);
            var run = Measure(o, "two nodes, PostgreSQL", pids, [apiA, apiB], urls, enrollToken, agents, fleet, postgres.Pid, () =>
            {
                try
                {
                    return postgres.Writes("belay_hub");
                }
                catch (InvalidOperationException e)
                {
                    BenchContext.Say($"hubscale: PostgreSQL's write counters not read: {e.Message.Split('\n').LastOrDefault(l => l.Length > 0)}");
                    return null;
                }
            });

            // Live tails: hosts held by node A, read through node B.
            var tails = Tails(apiB, fleet, o.Quick ? TimeSpan.FromSeconds(15) : TimeSpan.FromSeconds(30));

            // The storm: node A killed; its agents onto node B.
            var storm = Storm(fleet, a, apiB, agents);
            return (run, storm, tails);
        }
        finally
        {
            fleet?.Dispose();
            Shell.Stop(a, TimeSpan.FromSeconds(15));
            Shell.Stop(b, TimeSpan.FromSeconds(15));
        }
    }

    private static ScaleRun OneNode(BenchContext ctx, string hubExe, string dir, int agents)
    {
        var o = ctx.Options;
        var data = Path.Combine(dir, "sqlite");
        Shell.Check(hubExe, ["user", "add", "bench", "--role", "admin", "--data", data]);
        var apiToken = Shell.Check(hubExe, ["user", "token", "bench", "--name", "bench", "--data", data]).StdOut.Trim();
        var enrollToken = Shell.Check(hubExe, ["token", "create", "--group", "bench", "--uses", (agents + 10).ToString(CultureInfo.InvariantCulture), "--data", data])
            .StdOut.Trim();
        var hub = Shell.Start(hubExe, ["serve", "--data", data, "--listen", "127.0.0.1:0"], Path.Combine(dir, "sqlite.log"));
        try
        {
            var url = HubBench.WaitForUrl(Path.Combine(dir, "sqlite.log"), hub);
            BenchContext.Say($"hubscale: one node on SQLite at {url} (pid {hub.Id})");
            using var api = Api(url, apiToken);
            using var fleet = new SimFleet([url], HubBench.SimulatedState("{AT}"), o.HubScalePoll);
            return Measure(o, "one node, SQLite", [hub.Id], [api], [url], enrollToken, agents, fleet, null, null);
        }
        finally
        {
            Shell.Stop(hub, TimeSpan.FromSeconds(15));
        }
    }

    /// <summary>Enroll, connect with the memory sampled as they come, then idle CPU and pokes.</summary>
    private static ScaleRun Measure(BenchOptions o, string name, int[] pids, HttpClient[] apis, string[] urls, string enrollToken, int agents, SimFleet fleet, int? databasePid,
        Func<(Dictionary<string, long> Rows, long Commits)?>? databaseWrites)
    {
        Thread.Sleep(3000);
        var idle = Memory(pids);
        BenchContext.Say($"hubscale [{name}]: {idle.Pss:F1} MB PSS idle; enrolling {agents} simulated agents through the API");
        var watch = Stopwatch.StartNew();
        var sims = Enroll(urls, enrollToken, agents);
        var enrollSeconds = watch.Elapsed.TotalSeconds;
        BenchContext.Say($"hubscale [{name}]: enrolled {agents} in {enrollSeconds:F1} s; connecting");
        var ramp = new List<(double, double)> { (0, idle.Pss) };
        watch.Restart();
        var step = Math.Max(agents / 10, 100);
        for (var start = 0; start < agents; start += step)
        {
            var end = Math.Min(agents, start + step);
            for (var i = start; i < end; i++)
            {
                fleet.Start(sims[i]);
            }
            HubBench.WaitUntil(() => fleet.Connected >= end, TimeSpan.FromMinutes(3), $"{end} simulated agents connected ({fleet.Connected} are)");
            ramp.Add((end, Memory(pids).Pss));
        }
        var connectSeconds = watch.Elapsed.TotalSeconds;
        BenchContext.Say($"hubscale [{name}]: {agents} connected in {connectSeconds:F1} s; waiting for the hub to count them");
        HubBench.WaitUntil(() => Connected(apis[0]) >= agents, TimeSpan.FromMinutes(3), $"the hub counting {agents} connected");
        Thread.Sleep(TimeSpan.FromSeconds(o.Quick ? 5 : 15));
        var window = TimeSpan.FromSeconds(o.Quick ? 15 : 40);
        var cpuBefore = pids.Sum(Cpu);
        var dbBefore = databasePid is { } db ? TreeCpu(db) : 0;
        var writesBefore = databaseWrites?.Invoke();
        var statesBefore = Interlocked.Read(ref fleet.StatesSent);
        var samples = new List<(double Pss, double Rss)>();
        var sampling = Stopwatch.StartNew();
        while (sampling.Elapsed < window)
        {
            samples.Add(Memory(pids));
            Thread.Sleep(2000);
        }
        var seconds = sampling.Elapsed.TotalSeconds;
        var states = (Interlocked.Read(ref fleet.StatesSent) - statesBefore) / seconds;
        var writesAfter = databaseWrites?.Invoke();
        var dbRows = writesAfter is { } w1 && writesBefore is { } w0
            ? w1.Rows.Where(kv => kv.Value > w0.Rows.GetValueOrDefault(kv.Key)).ToDictionary(kv => kv.Key, kv => (kv.Value - w0.Rows.GetValueOrDefault(kv.Key)) / seconds, StringComparer.Ordinal)
            : new Dictionary<string, double>(StringComparer.Ordinal);
        var dbCommits = writesAfter is { } c1 && writesBefore is { } c0 ? (c1.Commits - c0.Commits) / seconds : double.NaN;
        var cpu = (pids.Sum(Cpu) - cpuBefore) / ProcFs.TicksPerSecond / seconds * 100;
        var dbCpu = databasePid is { } db2 ? (TreeCpu(db2) - dbBefore) / ProcFs.TicksPerSecond / seconds * 100 : double.NaN;
        var loaded = (Pss: Stats.Median(samples.Select(s => s.Pss)), Rss: Stats.Median(samples.Select(s => s.Rss)));
        BenchContext.Say($"hubscale [{name}]: {loaded.Pss:F1} MB PSS with {agents} ({(loaded.Pss - idle.Pss) * 1024 / agents:F1} kB each), hub CPU {cpu:F2} % idle" +
            (double.IsNaN(dbCpu) ? "" : $", PostgreSQL {dbCpu:F2} %, {dbRows.Values.Sum():F0} rows written/s ({string.Join(", ", dbRows.Select(kv => $"{kv.Key} {kv.Value:F0}"))}), {dbCommits:F1} transactions/s") + $"; agents sent {states:F0} states/s");

        // Pokes: from each node's API, to hosts on it and (with two nodes) on the other.
        var pokes = o.Quick ? 200 : 400;
        var local = new List<double>();
        var remote = new List<double>();
        var pokeErrors = 0;
        var random = new Random(15);
        for (var k = 0; k < pokes; k++)
        {
            var via = k % apis.Length;
            var sim = sims[random.Next(agents)];
            var ms = Poke(apis[via], sim);
            if (ms is null)
            {
                pokeErrors++;
            }
            else
            {
                (sim.Node == via ? local : remote).Add(ms.Value);
            }
            Thread.Sleep(40); // the API allows an operator 50 requests a second
        }
        BenchContext.Say($"hubscale [{name}]: poke p50/p99 {Stats.Percentile(local, 50):F1}/{Stats.Percentile(local, 99):F1} ms on the node that holds the host" +
            (remote.Count > 0 ? $", {Stats.Percentile(remote, 50):F1}/{Stats.Percentile(remote, 99):F1} ms through the other" : "") + $"; {pokeErrors} failed");
        var simRss = ProcFs.ReadRollup(Environment.ProcessId) is { } me ? me.RssKb / 1024.0 : double.NaN;
        return new ScaleRun(name, pids.Length, agents, enrollSeconds, connectSeconds, fleet.Connected, idle.Pss, loaded.Pss, idle.Rss, loaded.Rss, seconds, cpu, dbCpu,
            local, remote, pokeErrors, ramp, new Dictionary<string, int>(fleet.ConnectFailures), simRss, states, dbRows, dbCommits, fleet.StateBytes);
    }

    private static double? Poke(HttpClient api, SimAgent sim)
    {
        var waiter = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        sim.PokeWaiter = waiter;
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var response = api.PostAsync($"api/v1/hosts/{sim.HostId}/poke", null).Result;
            if (!response.IsSuccessStatusCode)
            {
                BenchContext.Say($"hubscale: poke {sim.HostId}: {(int)response.StatusCode} {response.Content.ReadAsStringAsync().Result}");
                return null;
            }
        }
        catch (AggregateException e)
        {
            BenchContext.Say($"hubscale: poke {sim.HostId}: {e.InnerException?.Message}");
            return null;
        }
        if (!waiter.Task.Wait(TimeSpan.FromSeconds(10)))
        {
            return null;
        }
        return Stopwatch.GetElapsedTime(started, waiter.Task.Result).TotalMilliseconds;
    }

    /// <summary><see cref="TailCount"/> live logs of hosts on node 0, read through node 1 (SSE) for <paramref name="window"/>.</summary>
    private static TailFigures Tails(HttpClient through, SimFleet fleet, TimeSpan window)
    {
        var hosts = fleet.Agents.Where(s => s.Node == 0 && s.Connected).Take(TailCount).ToList();
        BenchContext.Say($"hubscale: {hosts.Count} live tails through node B of hosts on node A, {window.TotalSeconds:0} s, a line every {SimFleet.TailEvery.TotalMilliseconds:0} ms each");
        var latencies = new ConcurrentBag<double>();
        var opened = 0;
        var sentBefore = Interlocked.Read(ref fleet.TailLines);
        using var cancel = new CancellationTokenSource(window);
        var readers = hosts.Select(h => Task.Run(async () =>
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"api/v1/hosts/{h.HostId}/logs/web?stream=stdout&lines=0");
                using var response = await through.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
                if (!response.IsSuccessStatusCode)
                {
                    BenchContext.Say($"hubscale: tail of {h.HostId}: {(int)response.StatusCode}");
                    return;
                }
                Interlocked.Increment(ref opened);
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token), Encoding.UTF8);
                var pending = "";
                while (await reader.ReadLineAsync(cancel.Token) is { } line)
                {
                    if (!line.StartsWith("data: {\"o\"", StringComparison.Ordinal))
                    {
                        continue;
                    }
                    var arrived = Stopwatch.GetTimestamp();
                    var text = pending + JsonDocument.Parse(line["data: ".Length..]).RootElement.GetProperty("t").GetString();
                    var parts = text.Split('\n');
                    pending = parts[^1];
                    foreach (var complete in parts[..^1])
                    {
                        var words = complete.Split(' ');
                        if (words.Length == 4 && words[0] == "lat" && long.TryParse(words[3], NumberStyles.None, CultureInfo.InvariantCulture, out var stamp))
                        {
                            latencies.Add(Stopwatch.GetElapsedTime(stamp, arrived).TotalMilliseconds);
                        }
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or HttpRequestException)
            {
            }
        })).ToArray();
        Task.WaitAll(readers, window + TimeSpan.FromSeconds(30));
        var list = latencies.ToList();
        var sent = Interlocked.Read(ref fleet.TailLines) - sentBefore;
        BenchContext.Say($"hubscale: {opened} tails, {list.Count} lines read of {sent} sent: p50 {Stats.Percentile(list, 50):F1} ms, p99 {Stats.Percentile(list, 99):F1} ms");
        Thread.Sleep(2000); // the tails close on the agents
        return new TailFigures(hosts.Count, opened, window.TotalSeconds, list, sent, Interlocked.Read(ref fleet.TailStalled));
    }

    /// <summary>SIGKILL node A; the time until every agent it held is connected to node B, from the simulator and as node B counts them.</summary>
    private static StormFigures Storm(SimFleet fleet, Process nodeA, HttpClient apiB, int agents)
    {
        var moved = fleet.Agents.Where(s => s.Node == 0).ToList();
        var failuresBefore = new Dictionary<string, int>(fleet.ConnectFailures);
        BenchContext.Say($"hubscale: the storm: SIGKILL node A (pid {nodeA.Id}), which holds {moved.Count} agents");
        var killed = Stopwatch.GetTimestamp();
        fleet.NodeDown(0);
        Shell.Signal(nodeA.Id, "KILL");
        var allBack = double.NaN;
        var hubSees = double.NaN;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromMinutes(6) && (double.IsNaN(allBack) || double.IsNaN(hubSees)))
        {
            if (double.IsNaN(allBack) && moved.All(s => s.Connected && s.Node == 1 && s.ConnectedAt > killed))
            {
                allBack = Stopwatch.GetElapsedTime(killed).TotalSeconds;
                BenchContext.Say($"hubscale: all {moved.Count} agents of node A connected to node B after {allBack:F1} s");
            }
            if (double.IsNaN(hubSees))
            {
                try
                {
                    if (Connected(apiB) >= agents && fleet.Connected >= agents)
                    {
                        hubSees = Stopwatch.GetElapsedTime(killed).TotalSeconds;
                        BenchContext.Say($"hubscale: node B counts all {agents} connected after {hubSees:F1} s");
                    }
                }
                catch (Exception e) when (e is AggregateException or HttpRequestException or JsonException)
                {
                }
            }
            Thread.Sleep(200);
        }
        var reconnects = moved.Where(s => s.ConnectedAt > killed).Select(s => Stopwatch.GetElapsedTime(killed, s.ConnectedAt).TotalSeconds).ToList();
        var kinds = fleet.ConnectFailures.Where(kv => kv.Value > failuresBefore.GetValueOrDefault(kv.Key))
            .ToDictionary(kv => kv.Key, kv => kv.Value - failuresBefore.GetValueOrDefault(kv.Key), StringComparer.Ordinal);
        // Every moved host reachable again: a poke through node B to a sample of them.
        var sample = moved.Where((_, i) => i % Math.Max(1, moved.Count / 100) == 0).Take(100).ToList();
        var ok = 0;
        foreach (var sim in sample)
        {
            if (Poke(apiB, sim) is not null)
            {
                ok++;
            }
            Thread.Sleep(40);
        }
        BenchContext.Say($"hubscale: storm errors beyond the reconnects: {kinds.Values.Sum()}{(kinds.Count > 0 ? " (" + string.Join(", ", kinds.Select(k => $"{k.Key}: {k.Value}")) + ")" : "")}; " +
            $"pokes through node B afterwards {ok}/{sample.Count}");
        return new StormFigures(moved.Count, allBack, hubSees, reconnects, kinds.Values.Sum(), kinds, sample.Count, ok);
    }

    /// <summary>Enrolls through the API, 25 hosts from each 127.x address (the hub allows an address 30 a minute), four addresses at a time, alternating between the nodes.</summary>
    private static List<SimAgent> Enroll(string[] urls, string token, int count)
    {
        var result = new SimAgent[count];
        var batches = Enumerable.Range(0, (count + 24) / 25).ToList();
        Parallel.ForEach(batches, new ParallelOptions { MaxDegreeOfParallelism = 4 }, batch =>
        {
            var address = Source(batch);
            var node = batch % urls.Length;
            using var http = new HttpClient(HubBench.From(address)) { BaseAddress = new Uri(urls[node]), Timeout = TimeSpan.FromSeconds(60) };
            for (var i = batch * 25; i < Math.Min(count, (batch + 1) * 25); i++)
            {
                var body = $$"""{"token":"{{token}}","host":{"id":"sim{{i}}","hostname":"sim-{{i:D5}}","macs":["52:54:00:{{i / 65536:x2}}:{{i / 256 % 256:x2}}:{{i % 256:x2}}"]},"version":"1.0.0","rid":"linux-x64"}""";
                using var response = http.PostAsync("agent/v1/enroll", new StringContent(body, Encoding.UTF8, "application/json")).Result;
                var text = response.Content.ReadAsStringAsync().Result;
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"enrolling simulated agent {i}: {(int)response.StatusCode} {text}");
                }
                var doc = JsonDocument.Parse(text).RootElement;
                // Connections alternate between the nodes (a load balancer's round robin).
                result[i] = new SimAgent(i, doc.GetProperty("hostId").GetString()!, doc.GetProperty("credential").GetString()!, address, i % urls.Length);
            }
        });
        return [.. result];
    }

    /// <summary>127.1.x.y, one per 25 hosts.</summary>
    internal static IPAddress Source(int batch) => IPAddress.Parse($"127.1.{batch / 250}.{1 + (batch % 250)}");

    private static HttpClient Api(string url, string token)
    {
        var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    private static int Connected(HttpClient http)
    {
        using var doc = JsonDocument.Parse(http.GetStringAsync("api/v1/groups").Result);
        return doc.RootElement.EnumerateArray().Sum(g => g.GetProperty("connected").GetInt32());
    }

    private static (double Pss, double Rss) Memory(int[] pids)
    {
        double pss = 0, rss = 0;
        foreach (var pid in pids)
        {
            var r = ProcFs.ReadRollup(pid) ?? throw new InvalidOperationException($"belay-hub (pid {pid}) is gone");
            pss += r.PssKb / 1024.0;
            rss += r.RssKb / 1024.0;
        }
        return (pss, rss);
    }

    private static long Cpu(int pid) => ProcFs.ReadCpu(pid) is { } c ? c.Own : 0;

    private static long TreeCpu(int root) => ProcFs.Tree(root, ProcFs.ParentMap()).Sum(Cpu);

    private static int FdLimit()
    {
        foreach (var line in File.ReadLines("/proc/self/limits"))
        {
            if (line.StartsWith("Max open files", StringComparison.Ordinal))
            {
                var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return int.TryParse(words[3], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : int.MaxValue;
            }
        }
        return int.MaxValue;
    }
}
