using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Belay.Bench;

internal sealed record AgentMemory(string Name, double AgentPssMb, double AgentPssMaxMb, double KeeperPssMb, double TreePssMaxMb, int Samples);

internal sealed record HubResult(
    AgentMemory? Without, AgentMemory? With, double WindowSeconds,
    int Agents, double HubIdlePssMb, double HubLoadedPssMb, double HubIdleRssMb, double HubLoadedRssMb, double ConnectSeconds, double HubCpuPercent,
    int Lines, double LatencyP50Ms, double LatencyP99Ms, double LatencyMaxMs, double LineIntervalMs,
    BrowserFigures? Browser, ThroughputFigures? Throughput, string? Error);

/// <summary>The write-to-browser latency (headless Chromium on the hub's live-log page), or why it was not measured.</summary>
internal sealed record BrowserFigures(int Lines, double P50Ms, double P99Ms, double MaxMs, string? NotMeasured);

/// <summary>
/// The hub, side by side in one run:
/// <list type="number">
/// <item>the agent's footprint with the hub connection open: two installations from one feed, one
/// enrolled with a hub and one not, the same program, sampled every second over the same window;</item>
/// <item>the hub's memory per connected agent: its PSS with no agent, then with N simulated agents
/// connected (each enrolled through the API, from its own 127.x address as hosts would, then one
/// WebSocket with a hello and a state of the size a real agent sends);</item>
/// <item>the latency from a program's write to a reader of the hub's live log, over 1,000 lines:
/// the program stamps each line with the time it wrote it; an HTTP client reading the SSE stream
/// takes the time each line arrives, and then headless Chromium on the live-log page takes the
/// time each line is complete in the page (<see cref="BrowserLatency"/>);</item>
/// <item>a program's write throughput with no live log open and with a throttled one (<see cref="HubThroughput"/>).</item>
/// </list>
/// </summary>
internal static class HubBench
{
    public static HubResult Run(BenchContext ctx)
    {
        var o = ctx.Options;
        var dir = ctx.Dir("hub");
        var hubExe = Path.Combine(o.BinDir, "belay-hub");
        if (!File.Exists(hubExe))
        {
            throw new InvalidOperationException($"{hubExe} is missing: run ./build.sh publish first");
        }
        var agents = o.Quick ? 200 : 1000;
        var window = o.Quick ? TimeSpan.FromSeconds(20) : TimeSpan.FromSeconds(60);
        var data = Path.Combine(dir, "data");
        var hub = Shell.Start(hubExe, ["serve", "--data", data, "--listen", "127.0.0.1:0"], Path.Combine(dir, "hub.log"));
        var plain = new BelayHost(ctx, Path.Combine(dir, "plain"));
        var enrolled = new BelayHost(ctx, Path.Combine(dir, "enrolled"));
        var sims = new List<ClientWebSocket>();
        Process? server = null;
        try
        {
            var url = WaitForUrl(Path.Combine(dir, "hub.log"), hub);
            var password = Admin(hubExe, data, "user", "add", "bench", "--role", "admin").Trim();
            var apiToken = Admin(hubExe, data, "user", "token", "bench", "--name", "bench").Trim();
            BenchContext.Say($"hub: belay-hub serving at {url}");

            // 1. The agent's footprint, with and without the hub.
            var feed = new BenchFeed(ctx, Path.Combine(dir, "feedroot"));
            feed.Publish(ctx.BuiltVersion, ctx.AgentBytes);
            server = Shell.Start(ctx.Release, ["serve", "--feed", feed.Dir, "--listen", "127.0.0.1:0"], Path.Combine(dir, "serve.log"));
            var feedUrl = WaitForUrl(Path.Combine(dir, "serve.log"), server, "serving ");
            var program = "[program:clock]\ncommand = sh -c 'i=0; while :; do i=$((i+1)); echo \"lat $i $(date +%s%N)\"; sleep 0.02; done'\n";
            var burstLines = o.Quick ? 200_000 : 400_000;
            foreach (var host in new[] { plain, enrolled })
            {
                Directory.CreateDirectory(Path.Combine(host.Prefix, "etc"));
                Directory.CreateDirectory(Path.Combine(host.Prefix, "scratch"));
                var conf = Path.Combine(host.Prefix, "etc", "programs.conf");
                File.WriteAllText(conf, program + HubThroughput.Program(Path.Combine(host.Prefix, "scratch"), burstLines));
                File.SetUnixFileMode(conf, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            CheckOk(plain.Install(feedUrl, "--poll-interval", "10s"), "install without the hub");
            var token = Admin(hubExe, data, "token", "create", "--group", "bench", "--uses", (agents + 10).ToString(CultureInfo.InvariantCulture)).Trim();
            CheckOk(enrolled.Install(feedUrl, "--poll-interval", "10s", "--hub", url, "--enroll-token", token), "install with the hub");
            var hubHostId = JsonDocument.Parse(File.ReadAllText(Path.Combine(enrolled.Prefix, "etc", "hub.json"))).RootElement.GetProperty("hostId").GetString()!;
            using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiToken);
            WaitUntil(() => http.GetStringAsync($"api/v1/hosts/{hubHostId}").Result.Contains("\"connected\":true", StringComparison.Ordinal), TimeSpan.FromSeconds(60),
                "the enrolled agent connected");
            BenchContext.Say($"hub: agent footprint, with and without the hub connection, over {window.TotalSeconds:0} s");
            Thread.Sleep(TimeSpan.FromSeconds(o.Quick ? 5 : 15));
            var (without, with) = SampleAgents(plain, enrolled, window);

            // 3. Latency, write to reader, over 1,000 lines (before the simulated agents, on a quiet hub).
            BenchContext.Say("hub: write-to-reader latency over 1,000 lines of a live log");
            var latencies = Latency(http, hubHostId, 1000);
            BenchContext.Say("hub: write-to-browser latency over 1,000 lines, headless Chromium on the live-log page");
            var browser = Browser(dir, url, password, hubHostId, 1000);

            // 4. A slow reader and the program's throughput.
            BenchContext.Say($"hub: a program's write throughput, {burstLines:N0} lines a burst, with no live log open and with a throttled one");
            var throughput = Throughput(url, apiToken, hubHostId, Path.Combine(enrolled.Prefix, "scratch"), burstLines, o.Quick ? 3 : 5);

            // 2. The hub's memory per connected agent.
            var hubPid = hub.Id;
            Thread.Sleep(2000);
            var idle = Memory(hubPid);
            BenchContext.Say($"hub: {idle.Pss:F1} MB PSS with 1 agent; enrolling and connecting {agents} simulated agents");
            var state = SimulatedState();
            var watch = Stopwatch.StartNew();
            var enrolledSims = EnrollMany(url, token, agents);
            foreach (var batch in enrolledSims.Chunk(50))
            {
                sims.AddRange(Task.WhenAll(batch.Select(c => ConnectAsync(url, c, state))).Result);
            }
            var connectSeconds = watch.Elapsed.TotalSeconds;
            WaitUntil(() => Connected(http) >= agents + 1, TimeSpan.FromMinutes(2), $"{agents} simulated agents connected");
            Thread.Sleep(TimeSpan.FromSeconds(10));
            var cpuBefore = Cpu(hubPid);
            var samples = new List<(double Pss, double Rss)>();
            for (var i = 0; i < 10; i++)
            {
                samples.Add(Memory(hubPid));
                Thread.Sleep(1000);
            }
            var cpu = (Cpu(hubPid) - cpuBefore) / ProcFs.TicksPerSecond / 10 * 100;
            var loaded = (Pss: Stats.Median(samples.Select(s => s.Pss)), Rss: Stats.Median(samples.Select(s => s.Rss)));
            BenchContext.Say($"hub: {loaded.Pss:F1} MB PSS with {agents + 1} agents: {(loaded.Pss - idle.Pss) * 1024 / agents:F1} kB each");
            return new HubResult(without, with, window.TotalSeconds, agents, idle.Pss, loaded.Pss, idle.Rss, loaded.Rss, connectSeconds, cpu,
                latencies.Count, Stats.Percentile(latencies, 50), Stats.Percentile(latencies, 99), latencies.Count == 0 ? double.NaN : latencies.Max(), 20, browser, throughput, null);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException or WebSocketException or AggregateException or JsonException)
        {
            BenchContext.Say($"hub FAILED: {e.Message}");
            return new HubResult(null, null, 0, agents, 0, 0, 0, 0, 0, 0, 0, double.NaN, double.NaN, double.NaN, 0, null, null, e.Message.Split('\n')[0]);
        }
        finally
        {
            foreach (var sim in sims)
            {
                sim.Abort();
                sim.Dispose();
            }
            plain.Uninstall();
            enrolled.Uninstall();
            Shell.Stop(hub, TimeSpan.FromSeconds(15));
            if (server is not null)
            {
                Shell.Stop(server, TimeSpan.FromSeconds(15));
            }
        }
    }

    private static string Admin(string hub, string data, params string[] args) =>
        Shell.Check(hub, [.. args, "--data", data]).StdOut;

    private static void CheckOk(CommandResult result, string what)
    {
        if (!result.Ok)
        {
            throw new InvalidOperationException($"{what} failed: {result}");
        }
    }

    /// <summary>The URL a belay-hub or belay-release serve printed in its log (HubScaleBench uses it too).</summary>
    internal static string WaitForUrl(string log, Process process, string marker = " listening on ")
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(60))
        {
            var text = File.Exists(log) ? File.ReadAllText(log) : "";
            var at = text.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                var rest = text[(at + marker.Length)..];
                var start = rest.IndexOf("http://", StringComparison.Ordinal);
                var end = rest.IndexOfAny([' ', '\n'], start);
                var url = rest[start..end];
                return url.EndsWith('/') ? url : url + "/";
            }
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{process.StartInfo.FileName} exited: {text}");
            }
            Thread.Sleep(100);
        }
        throw new InvalidOperationException($"{process.StartInfo.FileName} did not say where it listens");
    }

    internal static void WaitUntil(Func<bool> done, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            try
            {
                if (done())
                {
                    return;
                }
            }
            catch (AggregateException)
            {
            }
            Thread.Sleep(250);
        }
        throw new InvalidOperationException($"not {what} within {timeout.TotalSeconds:0} s");
    }

    /// <summary>PSS of each installation's agent and keeper, every second over the window.</summary>
    private static (AgentMemory Without, AgentMemory With) SampleAgents(BelayHost plain, BelayHost enrolled, TimeSpan window)
    {
        var hosts = new[] { plain, enrolled };
        var keepers = hosts.Select(h => h.KeeperPid() ?? throw new InvalidOperationException($"no keeper running in {h.Prefix}")).ToArray();
        var agentPss = hosts.Select(_ => new List<double>()).ToArray();
        var keeperPss = hosts.Select(_ => new List<double>()).ToArray();
        var treePss = hosts.Select(_ => new List<double>()).ToArray();
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < window)
        {
            var parents = ProcFs.ParentMap();
            for (var i = 0; i < hosts.Length; i++)
            {
                double agent = 0, tree = 0;
                foreach (var pid in ProcFs.Tree(keepers[i], parents))
                {
                    if (ProcFs.ReadRollup(pid) is not { } r)
                    {
                        continue;
                    }
                    var comm = ProcFs.Comm(pid);
                    if (comm == "belay-agent")
                    {
                        agent += r.PssKb / 1024.0;
                    }
                    if (comm is "belay-agent" or "belay-keeper" or "belay")
                    {
                        tree += r.PssKb / 1024.0;
                    }
                    if (pid == keepers[i])
                    {
                        keeperPss[i].Add(r.PssKb / 1024.0);
                    }
                }
                agentPss[i].Add(agent);
                treePss[i].Add(tree);
            }
            Thread.Sleep(1000);
        }
        AgentMemory Of(int i, string name) => new(name, Stats.Median(agentPss[i]), agentPss[i].Max(), Stats.Median(keeperPss[i]), treePss[i].Max(), agentPss[i].Count);
        return (Of(0, "without the hub"), Of(1, "with the hub connection open"));
    }

    /// <summary>Reads the live log of the clock program until <paramref name="lines"/> new lines arrived; each one's delay from its write, in ms.</summary>
    private static List<double> Latency(HttpClient http, string hostId, int lines)
    {
        var result = new List<double>();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"api/v1/hosts/{hostId}/logs/clock?stream=stdout&lines=0");
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        using var response = http.Send(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        using var reader = new StreamReader(response.Content.ReadAsStream(cancel.Token), Encoding.UTF8);
        var pending = "";
        while (result.Count < lines && !cancel.IsCancellationRequested)
        {
            var line = reader.ReadLine();
            if (line is null)
            {
                break;
            }
            if (!line.StartsWith("data: {\"o\"", StringComparison.Ordinal))
            {
                continue;
            }
            var arrived = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).TotalMilliseconds;
            var text = pending + JsonDocument.Parse(line["data: ".Length..]).RootElement.GetProperty("t").GetString();
            var parts = text.Split('\n');
            pending = parts[^1];
            foreach (var complete in parts[..^1])
            {
                var words = complete.Split(' ');
                if (words.Length == 3 && words[0] == "lat" && long.TryParse(words[2], NumberStyles.None, CultureInfo.InvariantCulture, out var ns))
                {
                    result.Add(arrived - (ns / 1e6));
                }
            }
        }
        return result;
    }

    private static BrowserFigures Browser(string dir, string url, string password, string hostId, int lines)
    {
        try
        {
            var (latencies, missing) = BrowserLatency.Measure(dir, url, "bench", password, hostId, "clock", lines);
            if (latencies is null)
            {
                BenchContext.Say($"hub: no browser latency: {missing}");
                return new BrowserFigures(0, double.NaN, double.NaN, double.NaN, missing);
            }
            return new BrowserFigures(latencies.Count, Stats.Percentile(latencies, 50), Stats.Percentile(latencies, 99),
                latencies.Count == 0 ? double.NaN : latencies.Max(), latencies.Count < lines ? $"only {latencies.Count} of {lines} lines reached the page within 3 minutes" : null);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException or TaskCanceledException or JsonException)
        {
            BenchContext.Say($"hub: the browser latency FAILED: {e.Message}");
            return new BrowserFigures(0, double.NaN, double.NaN, double.NaN, "failed: " + e.Message.Split('\n')[0]);
        }
    }

    private static ThroughputFigures Throughput(string url, string apiToken, string hostId, string folder, int lines, int rounds)
    {
        try
        {
            var figures = HubThroughput.Measure(url, apiToken, hostId, folder, lines, rounds);
            BenchContext.Say($"hub: burst throughput {string.Join(", ", figures.WithoutMbps.Select(m => m.ToString("F0", CultureInfo.InvariantCulture)))} MB/s with no live log open, " +
                $"{string.Join(", ", figures.WithMbps.Select(m => m.ToString("F0", CultureInfo.InvariantCulture)))} MB/s with a throttled one ({figures.SkippedBytes:N0} bytes reported skipped)");
            return figures;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or AggregateException or FormatException)
        {
            BenchContext.Say($"hub: the throughput FAILED: {e.Message}");
            return new ThroughputFigures(lines, (long)lines * HubThroughput.LineBytes, [], [], 0, 0, 0, "failed: " + e.Message.Split('\n')[0]);
        }
    }

    private static (double Pss, double Rss) Memory(int pid) =>
        ProcFs.ReadRollup(pid) is { } r ? (r.PssKb / 1024.0, r.RssKb / 1024.0) : throw new InvalidOperationException($"belay-hub (pid {pid}) is gone");

    private static long Cpu(int pid) => ProcFs.ReadCpu(pid) is { } c ? c.Own : 0;

    private static int Connected(HttpClient http)
    {
        using var doc = JsonDocument.Parse(http.GetStringAsync("api/v1/groups").Result);
        return doc.RootElement.EnumerateArray().Sum(g => g.GetProperty("connected").GetInt32());
    }

    /// <summary>A state of the size a real agent sends (status keys and two programs); <paramref name="lastCheck"/> is its lastCheck.at.</summary>
    internal static string SimulatedState(string lastCheck = "2026-12-01T00:00:00Z") => """
        {"version":"1.0.0","current":"1.0.0","previous":null,"trial":null,"bad":[],"channel":"stable","feed":"https://feed.example.com/","sequence":42,
         "manifestExpires":"2027-01-01T00:00:00Z","lastCheck":{"at":"{AT}","result":"not-modified","error":null},"keeper":{"pid":100},
         "agent":{"pid":101,"ready":true},"host":{"id":"0123456789abcdef0123456789abcdef","hostname":"sim","os":"Linux","arch":"x64","rid":"linux-x64",
         "macs":["52:54:00:12:34:56"]},"serviceManager":"systemd","scope":"system","programs":[{"name":"web","state":"running","pid":200,
         "startedAt":"2026-12-01T00:00:00Z","restarts":0,"lastExit":null,"command":["/usr/bin/web","--port","8080"],"environment":{},"user":null,"detail":null},
         {"name":"worker","state":"running","pid":201,"startedAt":"2026-12-01T00:00:00Z","restarts":0,"lastExit":null,"command":["/usr/bin/worker"],
         "environment":{},"user":null,"detail":null}]}
        """.Replace("\n", "", StringComparison.Ordinal).Replace("{AT}", lastCheck, StringComparison.Ordinal);

    /// <summary>An HTTP handler whose connections come from <paramref name="address"/> (a 127.x address per batch of simulated hosts: the hub limits enrollments per address).</summary>
    internal static SocketsHttpHandler From(IPAddress address) => new()
    {
        ConnectCallback = async (context, cancel) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(address, 0));
            await socket.ConnectAsync(context.DnsEndPoint, cancel);
            return new NetworkStream(socket, ownsSocket: true);
        },
    };

    /// <summary>Enrolls <paramref name="count"/> hosts through the API, each batch from its own 127.0.x.y address (enrollment is rate-limited per address).</summary>
    private static List<string> EnrollMany(string url, string token, int count)
    {
        var credentials = new List<string>();
        for (var start = 0; start < count; start += 25)
        {
            var address = IPAddress.Parse($"127.0.{2 + (start / 25 / 250)}.{2 + (start / 25 % 250)}");
            using var http = new HttpClient(From(address)) { BaseAddress = new Uri(url) };
            for (var i = start; i < Math.Min(count, start + 25); i++)
            {
                var body = $$"""{"token":"{{token}}","host":{"id":"sim{{i}}","hostname":"sim-{{i:D4}}","macs":["52:54:00:00:{{i / 256:x2}}:{{i % 256:x2}}"]},"version":"1.0.0","rid":"linux-x64"}""";
                using var response = http.PostAsync("agent/v1/enroll", new StringContent(body, Encoding.UTF8, "application/json")).Result;
                var text = response.Content.ReadAsStringAsync().Result;
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"enrolling simulated agent {i}: {(int)response.StatusCode} {text}");
                }
                credentials.Add(JsonDocument.Parse(text).RootElement.GetProperty("credential").GetString()!);
            }
        }
        return credentials;
    }

    private static async Task<ClientWebSocket> ConnectAsync(string url, string credential, string state)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer " + credential);
        await socket.ConnectAsync(new Uri(url.Replace("http://", "ws://", StringComparison.Ordinal) + "agent/v1/connect"), CancellationToken.None);
        await socket.SendAsync("""{"t":"hello","v":1,"version":"1.0.0","rid":"linux-x64","host":{"hostname":"sim"}}"""u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        await socket.SendAsync(Encoding.UTF8.GetBytes("{\"t\":\"state\",\"state\":" + state + "}"), WebSocketMessageType.Text, true, CancellationToken.None);
        _ = DrainAsync(socket); // a pending receive answers the hub's pings, as a real agent's does
        return socket;
    }

    private static async Task DrainAsync(ClientWebSocket socket)
    {
        var buffer = new byte[1024];
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                await socket.ReceiveAsync(buffer, CancellationToken.None);
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }
}
