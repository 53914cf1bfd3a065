using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using System.Threading.Channels;
using Belay.Core.Hub;
using Belay.Hub.Api;
using Belay.Hub.Logs;
using Belay.Hub.Storage;
using ILogger = Serilog.ILogger;

namespace Belay.Hub.Agents;

/// <summary>
/// One agent's WebSocket, from the hub's side. Everything an agent sends is checked, and a
/// misbehaving agent loses its own connection, never anyone else's:
/// <list type="bullet">
/// <item>a frame over <see cref="HubMessages.MaxFrameBytes"/>: closed with 1009; a binary frame: 1003;</item>
/// <item>JSON that does not parse, or has no string <c>t</c>: 1007;</item>
/// <item>an unknown type, tail.* for a stream this connection was never asked for, data past the
/// credit, or more than <see cref="MessagesPerSecond"/> messages a second (burst <see cref="MessageBurst"/>): 1008;</item>
/// <item>state is taken at most once a second (burst 10); extra ones are dropped unread, and what
/// is kept is written to the database in batches (<see cref="StateWriter"/>), so a flood costs
/// the flooder's connection, not the database.</item>
/// </list>
/// Idle, a connection holds a 4 KiB receive buffer; a larger frame borrows a pooled 64 KiB one.
/// What the hub sends an agent goes through a bounded queue; an agent that stops reading is cut.
/// </summary>
internal sealed class AgentConnection : ITailUpstream, IDisposable
{
    public const double MessagesPerSecond = 200;
    public const double MessageBurst = 1000;
    private const int ReceiveBuffer = 4096;
    private const int OutboxCapacity = 256;
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(30);

    private readonly WebSocket _socket;
    private readonly Channel<byte[]> _outbox = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(OutboxCapacity) { SingleReader = true });
    private readonly RateBucket _messages;
    private readonly RateBucket _states;
    private readonly TailSessions _tails;
    private readonly StateWriter _stateWriter;
    private readonly IHubStore _store;
    private readonly Cluster.IHubCluster _cluster;
    private readonly ILogger _log;
    private readonly TimeProvider _clock;
    private readonly HashSet<long> _opened = [];
    private readonly CancellationTokenSource _closing = new();
    private long _droppedStates;
    private int _closeCode = (int)WebSocketCloseStatus.NormalClosure;
    private string _closeReason = "";

    public AgentConnection(string hostId, string remote, WebSocket socket, TailSessions tails, StateWriter stateWriter, IHubStore store, Cluster.IHubCluster cluster,
        ILogger log, TimeProvider clock)
    {
        _cluster = cluster;
        HostId = hostId;
        Remote = remote;
        _socket = socket;
        _tails = tails;
        _stateWriter = stateWriter;
        _store = store;
        _log = log;
        _clock = clock;
        ConnectedAt = clock.GetUtcNow();
        _messages = new RateBucket(MessagesPerSecond, MessageBurst, clock);
        _states = new RateBucket(1, 10, clock);
    }

    public string HostId { get; }
    public string Remote { get; }
    public DateTimeOffset ConnectedAt { get; }
    public string? Version { get; private set; }

    public string? RemoteNode => null;

    /// <summary>Why the hub closed it (for the log and the tests), or null when the agent went away.</summary>
    public string? ClosedBecause { get; private set; }

    /// <summary>Queues a frame for the agent; an agent that does not read its queue is disconnected.</summary>
    public void Send(byte[] frame)
    {
        if (!_outbox.Writer.TryWrite(frame))
        {
            Close(HubCloseCodes.Policy, "the agent does not read what the hub sends");
        }
    }

    /// <summary>Ends the connection with <paramref name="code"/> (it is sent to the agent as the close status).</summary>
    public void Close(int code, string reason)
    {
        lock (_opened)
        {
            if (ClosedBecause is not null)
            {
                return;
            }
            ClosedBecause = reason;
            _closeCode = code;
            _closeReason = reason;
        }
        try
        {
            _closing.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>The hub opened tail <paramref name="id"/> on this connection.</summary>
    public void TailOpened(long id)
    {
        lock (_opened)
        {
            _opened.Add(id);
        }
    }

    public async Task RunAsync(CancellationToken hubStopping)
    {
        using var session = CancellationTokenSource.CreateLinkedTokenSource(hubStopping, _closing.Token);
        var sending = SendLoopAsync(session.Token);
        var receiving = ReceiveLoopAsync(session.Token);
        await Task.WhenAny(sending, receiving).ConfigureAwait(false);
        if (hubStopping.IsCancellationRequested && ClosedBecause is null)
        {
            Close(HubCloseCodes.GoingAway, "the hub is shutting down");
        }
        await session.CancelAsync().ConfigureAwait(false);
        await Quietly(sending).ConfigureAwait(false);
        await Quietly(receiving).ConfigureAwait(false);
        if (ClosedBecause is not null && _socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var bye = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                // CloseAsync waits for the agent's answering close frame (at most 2 s), so that the close
                // status reaches the agent before the connection is torn down.
                await _socket.CloseAsync((WebSocketCloseStatus)_closeCode, _closeReason.Length > 120 ? _closeReason[..120] : _closeReason, bye.Token)
                    .ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
            {
            }
        }
        _socket.Abort();
    }

    public void Dispose() => _closing.Dispose();

    private async Task SendLoopAsync(CancellationToken cancellationToken)
    {
        await foreach (var frame in _outbox.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(SendTimeout);
            await _socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, timeout.Token).ConfigureAwait(false);
        }
    }

    private async Task ReceiveLoopAsync(CancellationToken cancellationToken)
    {
        var small = new byte[ReceiveBuffer];
        while (!cancellationToken.IsCancellationRequested)
        {
            var result = await _socket.ReceiveAsync(small.AsMemory(), cancellationToken).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return;
            }
            if (result.MessageType == WebSocketMessageType.Binary)
            {
                Close((int)WebSocketCloseStatus.InvalidMessageType, "binary frames are not part of the protocol");
                return;
            }
            if (result.EndOfMessage)
            {
                if (!await HandleAsync(small.AsMemory(0, result.Count), cancellationToken).ConfigureAwait(false))
                {
                    return;
                }
                continue;
            }
            var big = ArrayPool<byte>.Shared.Rent(HubMessages.MaxFrameBytes);
            try
            {
                small.AsSpan(0, result.Count).CopyTo(big);
                var length = result.Count;
                while (!result.EndOfMessage)
                {
                    if (length >= HubMessages.MaxFrameBytes)
                    {
                        Close(HubCloseCodes.TooBig, $"a frame over {HubMessages.MaxFrameBytes} bytes");
                        return;
                    }
                    result = await _socket.ReceiveAsync(big.AsMemory(length, HubMessages.MaxFrameBytes - length), cancellationToken).ConfigureAwait(false);
                    length += result.Count;
                }
                if (!await HandleAsync(big.AsMemory(0, length), cancellationToken).ConfigureAwait(false))
                {
                    return;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(big);
            }
        }
    }

    /// <summary>One message; false when it ended the connection.</summary>
    private async Task<bool> HandleAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        if (!_messages.TryTake())
        {
            Close(HubCloseCodes.Policy, $"more than {MessagesPerSecond:0} messages a second");
            return false;
        }
        var type = HubMessages.TypeOf(frame.Span);
        try
        {
            switch (type)
            {
                case HubMessages.HelloType:
                    var hello = HubMessages.Parse(frame.Span, HubJsonContext.Default.Hello);
                    Version = Clip(hello.Version, 64);
                    await _store.RecordHelloAsync(HostId, Describe(hello), _clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
                    return true;
                case HubMessages.StateType:
                    if (!_states.TryTake())
                    {
                        if (++_droppedStates % 1000 == 1)
                        {
                            _log.Warning("host {Host}: more than one state a second; dropped {Dropped} so far", HostId, _droppedStates);
                        }
                        return true;
                    }
                    _stateWriter.Set(HostId, HubMessages.StateJson(frame.Span), _clock.GetUtcNow());
                    return true;
                case HubMessages.TailDataType:
                    var data = HubMessages.Parse(frame.Span, HubJsonContext.Default.TailData);
                    if (Relayed(data.Id, frame))
                    {
                        return ClosedBecause is null;
                    }
                    if (Session(data.Id) is { } forData && !forData.OnData(data.Offset, data.Text ?? ""))
                    {
                        Close(HubCloseCodes.Policy, $"tail.data for stream {data.Id} past the credit it was given");
                        return false;
                    }
                    return ClosedBecause is null;
                case HubMessages.TailSkipType:
                    var skip = HubMessages.Parse(frame.Span, HubJsonContext.Default.TailSkip);
                    if (Relayed(skip.Id, frame))
                    {
                        return ClosedBecause is null;
                    }
                    Session(skip.Id)?.OnSkip(skip.Bytes);
                    return ClosedBecause is null;
                case HubMessages.TailEndType:
                    var end = HubMessages.Parse(frame.Span, HubJsonContext.Default.TailEnd);
                    if (Relayed(end.Id, frame))
                    {
                        return ClosedBecause is null;
                    }
                    Session(end.Id)?.End(Clip(end.Reason, 200), _clock.GetUtcNow());
                    return ClosedBecause is null;
                case null:
                    Close(HubCloseCodes.Malformed, "a message that is not a JSON object with a string \"t\"");
                    return false;
                default:
                    Close(HubCloseCodes.Policy, $"unknown message type '{Clip(type, 40)}'");
                    return false;
            }
        }
        catch (JsonException e)
        {
            Close(HubCloseCodes.Malformed, $"a malformed {Clip(type ?? "", 40)} message: {Clip(e.Message, 80)}");
            return false;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException or InvalidOperationException)
        {
            // Hostile input that got past the shape checks: this connection ends, the hub goes on.
            Close(HubCloseCodes.Malformed, $"a {Clip(type ?? "", 40)} message the hub cannot use: {Clip(e.Message, 80)}");
            return false;
        }
    }

    /// <summary>A tail message for a stream that a reader on another node opened: it goes to that node.</summary>
    private bool Relayed(long id, ReadOnlyMemory<byte> frame)
    {
        lock (_opened)
        {
            if (!_opened.Contains(id))
            {
                return false;
            }
        }
        return _tails.Find(id) is null && _cluster.RelayFromAgent(this, id, frame.Span);
    }

    /// <summary>The hub's session for a tail message; closes the connection for a stream never opened on it.</summary>
    private TailSession? Session(long id)
    {
        lock (_opened)
        {
            if (!_opened.Contains(id))
            {
                Close(HubCloseCodes.Policy, $"tail message for stream {id}, which was never opened on this connection");
                return null;
            }
        }
        var session = _tails.Find(id);
        return session is not null && ReferenceEquals(session.Agent, this) ? session : null;
    }

    private static HelloRecord Describe(Hello hello) => Describe(hello, hello.Host ?? new HelloHost());

    private static HelloRecord Describe(Hello hello, HelloHost host) => new(
        Clip(host.Hostname, 255),
        Clip(host.Id, 64),
        Clip(hello.Version, 64),
        Clip(hello.Rid, 32),
        Clip(host.Os, 200),
        JsonSerializer.Serialize((host.Macs ?? []).Take(64).Select(m => Clip(m, 32)).ToList(), HubApiJsonContext.Default.ListString),
        hello.Group is null ? null : Clip(hello.Group, 64));

    private static string Clip(string? text, int max) => text is null ? "" : text.Length <= max ? text : text[..max];

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException or ChannelClosedException
                                      or Core.BelayException)
        {
        }
    }
}
