using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Belay.Bench;

/// <summary>One simulated host: its id (32 hex digits, as belay install makes one), the version it runs, its manifest ETag.</summary>
internal sealed class SimHost(string id, string current)
{
    public string Id { get; } = id;
    public string Current { get; set; } = current;
    public string? ETag { get; set; }
    public long SeenSequence { get; set; }
    /// <summary>Simulator clock (seconds) when it last fetched a changed manifest, and when it last took a new version.</summary>
    public double SeenAt { get; set; } = double.NaN;
    public double RunningAt { get; set; } = double.NaN;
}

/// <summary>
/// N agents' feed traffic in one process, modelled on the real agent (core/Install/FeedClient.cs,
/// core/Update/PollSchedule.cs, and what real agents were seen to fetch in the latency
/// benchmark):
/// <list type="bullet">
/// <item>each host checks channels/stable.json with If-None-Match every interval ±10% (uniform
/// jitter), first at a random point of the first interval;</item>
/// <item>a 304 ends the check; a 200 is followed by root.json, root.json.minisig and
/// channels/stable.json.minisig (what the real agent verifies with), then, when the newest
/// release is newer and its rollout admits the host (UpdatePolicy.IsAdmitted, the product's
/// own formula, restated in Admission.cs), by the whole artifact, read and discarded, and by the new agent's first check
/// (again the manifest and the three files, without an ETag: a new process has none); the
/// host then "runs" it.</item>
/// </list>
/// It does not verify signatures or hashes, unpack, switch or run a trial: those are per host
/// and measured on real agents by the latency benchmark. Connections are pooled (256 for
/// metadata, 64 for artifacts), so it models requests and bytes, not one TLS session per host.
/// </summary>
internal sealed class FleetSimulator : IDisposable
{
    public static readonly string[] FollowUps = ["root.json", "root.json.minisig", "channels/stable.json.minisig"];

    private readonly HttpClient _meta;
    private readonly HttpClient _artifacts;
    private readonly string _rid;
    private readonly double _interval;
    private readonly Random _random = new(8);
    private readonly PriorityQueue<SimHost, double> _queue = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop = new();
    private Thread? _dispatcher;
    private long _checks;
    private long _notModified;
    private long _changed;
    private long _downloads;
    private long _errors;

    public FleetSimulator(string baseUrl, int hosts, TimeSpan interval, string version, string rid)
    {
        _rid = rid;
        _interval = interval.TotalSeconds;
        _meta = Client(baseUrl, 256, TimeSpan.FromSeconds(60));
        _artifacts = Client(baseUrl, 64, TimeSpan.FromMinutes(10));
        var idBytes = new byte[16];
        Hosts = new SimHost[hosts];
        for (var i = 0; i < hosts; i++)
        {
            _random.NextBytes(idBytes);
            Hosts[i] = new SimHost(Convert.ToHexStringLower(idBytes), version);
            _queue.Enqueue(Hosts[i], _random.NextDouble() * _interval);
        }
    }

    public SimHost[] Hosts { get; }
    public double Now => _clock.Elapsed.TotalSeconds;
    public long Checks => Interlocked.Read(ref _checks);
    public long NotModified => Interlocked.Read(ref _notModified);
    public long Changed => Interlocked.Read(ref _changed);
    public long Downloads => Interlocked.Read(ref _downloads);
    public long Errors => Interlocked.Read(ref _errors);
    public string? LastError { get; private set; }

    /// <summary>Starts checking. The dispatcher is a thread of its own and the pool starts with enough
    /// threads, so that checks stay on time while 64 downloads keep the pool's threads busy.</summary>
    public void Start()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 128), Math.Max(io, 128));
        _dispatcher = new Thread(Dispatch) { IsBackground = true, Name = "fleet dispatcher" };
        _dispatcher.Start();
    }

    /// <summary>Waits (polling the hosts' state) until <paramref name="done"/> holds for every host; false on timeout.</summary>
    public bool WaitUntil(Func<SimHost, bool> done, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            if (Hosts.All(done))
            {
                return true;
            }
            Thread.Sleep(100);
        }
        return false;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _dispatcher?.Join(TimeSpan.FromSeconds(10));
        _meta.Dispose();
        _artifacts.Dispose();
        _stop.Dispose();
    }

    private void Dispatch()
    {
        var due = new List<SimHost>();
        while (!_stop.IsCancellationRequested)
        {
            var now = Now;
            lock (_queue)
            {
                while (_queue.TryPeek(out _, out var at) && at <= now)
                {
                    due.Add(_queue.Dequeue());
                }
            }
            foreach (var h in due)
            {
                _ = CheckAndRequeueAsync(h);
            }
            due.Clear();
            Thread.Sleep(2);
        }
    }

    private async Task CheckAndRequeueAsync(SimHost h)
    {
        try
        {
            await CheckAsync(h);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or JsonException)
        {
            Interlocked.Increment(ref _errors);
            LastError = e.Message;
        }
        // PollSchedule: the next check one interval after this one ended, times 1 ± 10%.
        var next = Now + (_interval * (1 + (0.1 * ((2 * NextDouble()) - 1))));
        lock (_queue)
        {
            _queue.Enqueue(h, next);
        }
    }

    private async Task CheckAsync(SimHost h)
    {
        Interlocked.Increment(ref _checks);
        if (await FetchManifestAsync(h.ETag) is not { } fetched)
        {
            Interlocked.Increment(ref _notModified);
            return;
        }
        Interlocked.Increment(ref _changed);
        h.ETag = fetched.ETag;
        using var doc = JsonDocument.Parse(fetched.Manifest);
        var root = doc.RootElement;
        h.SeenSequence = root.GetProperty("sequence").GetInt64();
        h.SeenAt = Now;
        if (Choose(root, h) is not { } pick)
        {
            return;
        }
        using (var download = await _artifacts.GetAsync(pick.Path, HttpCompletionOption.ResponseHeadersRead, _stop.Token))
        {
            download.EnsureSuccessStatusCode();
            await using var body = await download.Content.ReadAsStreamAsync(_stop.Token);
            var buffer = ArrayPool<byte>.Shared.Rent(256 * 1024);
            try
            {
                while (await body.ReadAsync(buffer, _stop.Token) > 0)
                {
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        Interlocked.Increment(ref _downloads);
        // The new agent's first check, which its readiness waits for: a new process holds no
        // ETag, so it fetches the manifest and the files after it again (as real agents do).
        if (await FetchManifestAsync(null) is { } again)
        {
            h.ETag = again.ETag;
        }
        h.Current = pick.Version;
        h.RunningAt = Now;
    }

    /// <summary>channels/stable.json, conditional when <paramref name="etag"/> is set; null on 304. On a 200, the files a real agent reads next.</summary>
    private async Task<(byte[] Manifest, string? ETag)?> FetchManifestAsync(string? etag)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "channels/stable.json");
        if (etag is not null)
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", etag);
        }
        using var response = await _meta.SendAsync(request, HttpCompletionOption.ResponseContentRead, _stop.Token);
        if (response.StatusCode == HttpStatusCode.NotModified)
        {
            return null;
        }
        response.EnsureSuccessStatusCode();
        var manifest = await response.Content.ReadAsByteArrayAsync(_stop.Token);
        foreach (var file in FollowUps)
        {
            using var follow = await _meta.GetAsync(file, _stop.Token);
            follow.EnsureSuccessStatusCode();
            await follow.Content.ReadAsByteArrayAsync(_stop.Token);
        }
        return (manifest, response.Headers.ETag?.ToString());
    }

    /// <summary>The newest release newer than the host's, admitted by its rollout, built for the RID (UpdatePolicy's rule without pins or bad versions).</summary>
    private (string Version, string Path)? Choose(JsonElement manifest, SimHost h)
    {
        var current = Admission.Order(h.Current);
        (Version V, string Version, string Path)? best = null;
        foreach (var r in manifest.GetProperty("releases").EnumerateArray())
        {
            var version = r.GetProperty("version").GetString()!;
            var percent = r.TryGetProperty("rollout", out var ro) && ro.TryGetProperty("percent", out var p) ? p.GetInt32() : 0;
            if (!r.TryGetProperty("artifacts", out var arts) || !arts.TryGetProperty(_rid, out var art))
            {
                continue;
            }
            var v = Admission.Order(version);
            if (v > current && Admission.IsAdmitted(h.Id, version, percent) && (best is null || v > best.Value.V))
            {
                // What a real agent downloads: the compact form when the release has one (docs/feed.md).
                var chosen = art.TryGetProperty("compact", out var compact) ? compact : art;
                best = (v, version, chosen.GetProperty("path").GetString()!);
            }
        }
        return best is { } b ? (b.Version, b.Path) : null;
    }

    private double NextDouble()
    {
        lock (_random)
        {
            return _random.NextDouble();
        }
    }

    private static HttpClient Client(string baseUrl, int connections, TimeSpan timeout) => new(new SocketsHttpHandler
    {
        AutomaticDecompression = DecompressionMethods.None,
        MaxConnectionsPerServer = connections,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
    })
    {
        BaseAddress = new Uri(baseUrl),
        Timeout = timeout,
        DefaultRequestHeaders = { { "User-Agent", "belay-sim" } },
    };
}
