using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Belay.Core.Hub;

namespace Belay.Bench;

/// <summary>One simulated host: what enrollment gave it, where it is connected, and what the bench waits for.</summary>
internal sealed class SimAgent : IDisposable
{
    public SimAgent(int index, string hostId, string credential, IPAddress source, int node)
    {
        Index = index;
        HostId = hostId;
        Credential = credential;
        Source = source;
        Node = node;
    }

    public int Index { get; }
    public string HostId { get; }
    public string Credential { get; }

    /// <summary>The 127.x address its connections come from (one per 25 hosts, as enrollment's per-address rate needs).</summary>
    public IPAddress Source { get; }

    /// <summary>The node it is connected to, or tries next.</summary>
    public volatile int Node;

    /// <summary>True while its WebSocket is open (hello and state sent).</summary>
    public volatile bool Connected;

    /// <summary>Stopwatch timestamp of its last connect (hello and state sent).</summary>
    public long ConnectedAt;

    /// <summary>Set by the bench before a poke; completed with the Stopwatch timestamp of the poke frame's arrival.</summary>
    public volatile TaskCompletionSource<long>? PokeWaiter;

    public long Credit;
    public readonly SemaphoreSlim SendLock = new(1, 1);
    public CancellationTokenSource? Tail;

    public void Dispose()
    {
        SendLock.Dispose();
        Tail?.Dispose();
    }
}

/// <summary>
/// Agents that speak the real protocol (DESIGN.md, "The hub"; agent/Hub/HubClient.cs), many to
/// one process, without a thread each: every agent is one async loop around one ClientWebSocket.
/// <list type="bullet">
/// <item>Connect with the host's credential as a Bearer header, keepalive as the agent's (a ping
/// every 20 s, 10 s for the pong); then hello, then a state of the size a real agent sends.</item>
/// <item>A lost connection is retried as the agent retries it (core/Hub/Backoff.cs, compiled in:
/// full jitter from 1 s, 5 min cap; the count starts again after a connection that stayed up a
/// minute; a 401 waits the whole cap). The next try goes to the next live node, as nginx's
/// <c>proxy_next_upstream error</c> passes a refused connection on to the next upstream.</item>
/// <item>A new state every poll interval (10 s ±10 % by default): each feed check changes the
/// state's lastCheck, and the agent sends a state whenever it changes.</item>
/// <item>poke: the arrival time goes to the bench. tail.open: a line stamped with the time it was
/// "written" every <see cref="TailEvery"/>, as tail.data frames with their byte offsets, within
/// the credit the hub gives (64 KiB, then tail.credit), until tail.close or the connection ends.</item>
/// </list>
/// </summary>
internal sealed class SimFleet : IDisposable
{
    public static readonly TimeSpan TailEvery = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan StableAfter = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The credit a tail starts with (core/Hub/HubProtocol.cs, HubMessages.InitialCredit).</summary>
    private const long InitialCredit = 64 * 1024;

    private readonly Uri[] _nodes;
    private readonly bool[] _alive;
    private readonly string _state;
    private readonly TimeSpan _pollEvery;
    private readonly ConcurrentDictionary<IPAddress, HttpMessageInvoker> _invokers = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private readonly List<SimAgent> _agents = [];
    private int _connected;

    /// <param name="state">A state whose lastCheck time is <c>{AT}</c>.</param>
    /// <param name="pollEvery">The agent's poll interval: each poll changes lastCheck, so the agent sends a new state (±10 %, as the agent's jitter).</param>
    public SimFleet(IReadOnlyList<string> nodeUrls, string state, TimeSpan pollEvery)
    {
        _pollEvery = pollEvery;
        _nodes = nodeUrls.Select(u => new Uri(u.Replace("http://", "ws://", StringComparison.Ordinal) + "agent/v1/connect")).ToArray();
        _alive = _nodes.Select(_ => true).ToArray();
        _state = "{\"t\":\"state\",\"state\":" + state + "}";
    }

    public int Connected => Volatile.Read(ref _connected);
    public long Connects;
    public long Drops;

    /// <summary>Connections closed or lost while their node was alive: errors, not reconnects.</summary>
    public long DropsFromLiveNode;

    /// <summary>Connect attempts that failed, by why (refused by a dead node's port is not counted: the load balancer passes those on).</summary>
    public readonly ConcurrentDictionary<string, int> ConnectFailures = new(StringComparer.Ordinal);
    public long PokesReceived;
    public long TailLines;
    public long TailStalled;
    public long StatesSent;

    /// <summary>The size of one state frame.</summary>
    public int StateBytes => State().Length;

    /// <summary>Marks a node dead (the load balancer's view, as after its first refused connection).</summary>
    public void NodeDown(int node) => _alive[node] = false;

    public void Start(SimAgent agent)
    {
        lock (_loops)
        {
            _agents.Add(agent);
            _loops.Add(Task.Run(() => RunAsync(agent)));
        }
    }

    /// <summary>The agents started, a copy.</summary>
    public IReadOnlyList<SimAgent> Agents
    {
        get
        {
            lock (_loops)
            {
                return [.. _agents];
            }
        }
    }

    public int FailureCount => ConnectFailures.Values.Sum();

    private async Task RunAsync(SimAgent agent)
    {
        var attempt = 0;
        while (!_stop.IsCancellationRequested)
        {
            var started = Stopwatch.GetTimestamp();
            var refused = await ConnectOnceAsync(agent).ConfigureAwait(false);
            if (_stop.IsCancellationRequested)
            {
                break;
            }
            attempt = Stopwatch.GetElapsedTime(started) >= StableAfter ? 0 : attempt + 1;
            var delay = refused ? Backoff.Cap : Backoff.FullJitter(attempt, Random.Shared.NextDouble());
            agent.Node = NextLive(agent.Node);
            try
            {
                await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private int NextLive(int node)
    {
        for (var i = 1; i <= _nodes.Length; i++)
        {
            var next = (node + i) % _nodes.Length;
            if (_alive[next])
            {
                return next;
            }
        }
        return node;
    }

    /// <returns>True when the hub refused the credential (401/403).</returns>
    private async Task<bool> ConnectOnceAsync(SimAgent agent)
    {
        var node = agent.Node;
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer " + agent.Credential);
        socket.Options.SetRequestHeader("User-Agent", "belay-agent/sim");
        socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(20);
        socket.Options.KeepAliveTimeout = TimeSpan.FromSeconds(10);
        socket.Options.CollectHttpResponseDetails = true;
        try
        {
            using var connect = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            connect.CancelAfter(ConnectTimeout);
            await socket.ConnectAsync(_nodes[node], Invoker(agent.Source), connect.Token).ConfigureAwait(false);
            await socket.SendAsync("""{"t":"hello","v":1,"version":"1.0.0","rid":"linux-x64","host":{"hostname":"sim"}}"""u8.ToArray(), WebSocketMessageType.Text, true, connect.Token)
                .ConfigureAwait(false);
            await socket.SendAsync(State(), WebSocketMessageType.Text, true, connect.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or HttpRequestException or OperationCanceledException or IOException)
        {
            if (_stop.IsCancellationRequested)
            {
                return false;
            }
            if (socket.HttpStatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                Fail("refused (401/403)");
                return true;
            }
            if (!_alive[node] && (e.InnerException as SocketException ?? e.InnerException?.InnerException as SocketException)?.SocketErrorCode == SocketError.ConnectionRefused)
            {
                return false; // the dead node's port: nginx would have passed this on to the next node
            }
            Fail(socket.HttpStatusCode != 0 ? $"HTTP {(int)socket.HttpStatusCode}" : e is OperationCanceledException ? "no answer within 30 s" : e.GetType().Name + ": " + e.Message);
            return false;
        }
        Interlocked.Increment(ref Connects);
        agent.ConnectedAt = Stopwatch.GetTimestamp();
        agent.Connected = true;
        Interlocked.Increment(ref _connected);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var polling = PollAsync(agent, socket, session.Token);
        try
        {
            await ReceiveAsync(agent, socket).ConfigureAwait(false);
        }
        finally
        {
            await session.CancelAsync().ConfigureAwait(false);
            await polling.ConfigureAwait(false);
            agent.Connected = false;
            Interlocked.Decrement(ref _connected);
            agent.Tail?.Cancel();
            if (!_stop.IsCancellationRequested)
            {
                Interlocked.Increment(ref Drops);
                if (_alive[node])
                {
                    Interlocked.Increment(ref DropsFromLiveNode);
                    Fail(socket.CloseStatus is { } status ? $"closed by a live node ({(int)status} {socket.CloseStatusDescription})" : "lost from a live node");
                }
            }
        }
        return false;
    }

    private byte[] State() => Encoding.UTF8.GetBytes(_state.Replace("{AT}", DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
        StringComparison.Ordinal));

    /// <summary>The agent's feed checks: a new lastCheck, so a new state, every poll interval ±10 %.</summary>
    private async Task PollAsync(SimAgent agent, ClientWebSocket socket, CancellationToken cancel)
    {
        try
        {
            while (!cancel.IsCancellationRequested)
            {
                await Task.Delay(_pollEvery * (0.9 + (0.2 * Random.Shared.NextDouble())), cancel).ConfigureAwait(false);
                await agent.SendLock.WaitAsync(cancel).ConfigureAwait(false);
                try
                {
                    await socket.SendAsync(State(), WebSocketMessageType.Text, true, cancel).ConfigureAwait(false);
                }
                finally
                {
                    agent.SendLock.Release();
                }
                Interlocked.Increment(ref StatesSent);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
    }

    private void Fail(string why) => ConnectFailures.AddOrUpdate(why, 1, (_, n) => n + 1);

    private async Task ReceiveAsync(SimAgent agent, ClientWebSocket socket)
    {
        var buffer = new byte[2048];
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer.AsMemory(Math.Min(length, buffer.Length - 1)), _stop.Token).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        return;
                    }
                    length = Math.Min(length + result.Count, buffer.Length - 1);
                }
                while (!result.EndOfMessage);
                Dispatch(agent, socket, buffer.AsSpan(0, length));
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
        }
    }

    private void Dispatch(SimAgent agent, ClientWebSocket socket, ReadOnlySpan<byte> frame)
    {
        var at = Stopwatch.GetTimestamp();
        JsonElement root;
        try
        {
            root = JsonDocument.Parse(frame.ToArray()).RootElement;
        }
        catch (JsonException)
        {
            return;
        }
        switch (root.TryGetProperty("t", out var t) ? t.GetString() : null)
        {
            case "poke":
                Interlocked.Increment(ref PokesReceived);
                agent.PokeWaiter?.TrySetResult(at);
                break;
            case "tail.open":
                var id = root.GetProperty("id").GetInt64();
                agent.Tail?.Cancel();
                var tail = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                agent.Tail = tail;
                Interlocked.Exchange(ref agent.Credit, InitialCredit);
                _ = TailAsync(agent, socket, id, tail.Token);
                break;
            case "tail.credit":
                Interlocked.Add(ref agent.Credit, root.GetProperty("bytes").GetInt64());
                break;
            case "tail.close":
                agent.Tail?.Cancel();
                break;
            default:
                break;
        }
    }

    /// <summary>A program writing a stamped line every <see cref="TailEvery"/>, followed as the agent follows a log.</summary>
    private async Task TailAsync(SimAgent agent, ClientWebSocket socket, long id, CancellationToken cancel)
    {
        long offset = 0, seq = 0;
        using var timer = new PeriodicTimer(TailEvery);
        try
        {
            while (await timer.WaitForNextTickAsync(cancel).ConfigureAwait(false))
            {
                var text = string.Create(CultureInfo.InvariantCulture, $"lat {agent.Index} {seq++} {Stopwatch.GetTimestamp()}\n");
                var bytes = Encoding.UTF8.GetByteCount(text);
                if (Interlocked.Read(ref agent.Credit) < bytes)
                {
                    Interlocked.Increment(ref TailStalled); // the real agent would hold it until credit comes
                    continue;
                }
                Interlocked.Add(ref agent.Credit, -bytes);
                var frame = TailDataFrame(id, offset, text);
                await agent.SendLock.WaitAsync(cancel).ConfigureAwait(false);
                try
                {
                    await socket.SendAsync(frame, WebSocketMessageType.Text, true, cancel).ConfigureAwait(false);
                }
                finally
                {
                    agent.SendLock.Release();
                }
                offset += bytes;
                Interlocked.Increment(ref TailLines);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
    }

    /// <summary>A tail.data frame as the agent writes it (core/Hub/HubProtocol.cs, HubMessages.TailDataFrame).</summary>
    private static byte[] TailDataFrame(long id, long offset, string text)
    {
        using var buffer = new MemoryStream(text.Length + 64);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("t"u8, "tail.data");
            writer.WriteNumber("id"u8, id);
            writer.WriteNumber("offset"u8, offset);
            writer.WriteString("text"u8, text);
            writer.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>One handler per source address, its connections bound to that address.</summary>
    private HttpMessageInvoker Invoker(IPAddress source) => _invokers.GetOrAdd(source, address => new HttpMessageInvoker(new SocketsHttpHandler
    {
        ConnectTimeout = TimeSpan.FromSeconds(15),
        AutomaticDecompression = DecompressionMethods.None,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        ConnectCallback = async (context, cancel) =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                s.Bind(new IPEndPoint(address, 0));
                await s.ConnectAsync(context.DnsEndPoint, cancel).ConfigureAwait(false);
                return new NetworkStream(s, ownsSocket: true);
            }
            catch
            {
                s.Dispose();
                throw;
            }
        },
    }));

    public void Dispose()
    {
        _stop.Cancel();
        Task[] loops;
        lock (_loops)
        {
            loops = [.. _loops];
        }
        try
        {
            Task.WaitAll(loops, TimeSpan.FromSeconds(30));
        }
        catch (AggregateException)
        {
        }
        foreach (var agent in Agents)
        {
            agent.Dispose();
        }
        foreach (var invoker in _invokers.Values)
        {
            invoker.Dispose();
        }
        _stop.Dispose();
    }
}
