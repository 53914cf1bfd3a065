using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Belay.Core.Feed;
using Belay.Core.Hub;
using Serilog;

namespace Belay.Agent.Hub;

/// <summary>
/// The agent's one outbound connection to its hub (DESIGN.md, "The hub"): a WebSocket to
/// <c>/agent/v1/connect</c> with the host's credential as a Bearer header, proxied as the feed
/// client is (<c>HTTPS_PROXY</c>/<c>NO_PROXY</c>, through the same SocketsHttpHandler defaults).
/// <list type="bullet">
/// <item>Keepalive: a ping every 20 s, and the connection is dropped when no pong comes within 10 s.</item>
/// <item>Reconnect with full jitter from 1 s to 5 min (<see cref="Backoff"/>); a connection that
/// stayed up a minute starts the count again. A 401 (revoked or unknown credential) waits the
/// whole cap before the next try: the hub said no, asking again at once would not change that.</item>
/// <item>After connecting: hello, then the current state; a state again whenever it changes
/// (checked every 2 s, after each feed check, and whenever an app's deploy moves on), at most one
/// a second, the hub's rate. A <c>poke</c> asks for a feed check now.</item>
/// <item>Nothing here is awaited by the polling loop or the supervisor: they only post a state
/// (<see cref="HubOutbox.SetState"/> replaces the pending one) and get poked through a
/// callback. A hub that is down, slow or answers garbage costs this task's retries and at most
/// the queue's bounded memory.</item>
/// </list>
/// The protocol has no message that runs anything: the agent obeys poke (check the feed, whose
/// signatures still decide) and tail.* (read a log); anything else is ignored.
/// </summary>
internal sealed class HubClient
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StableAfter = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan StateEvery = TimeSpan.FromSeconds(2);

    /// <summary>The least time between two states sent: the hub's rate for states (one a second).</summary>
    private static readonly TimeSpan StateSpacing = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(30);

    private readonly string _settingsPath;
    private readonly Func<Task<byte[]>> _state;
    private readonly Action _poke;
    private readonly TailStreams.LogResolver _resolveLog;
    private readonly ILogger _log;
    private readonly TimeProvider _clock;
    private readonly string _version;
    private readonly Func<Hello> _hello;
    private readonly HubOutbox _queue = new();
    private readonly AsyncSignal _stateChanged = new();

    public HubClient(string settingsPath, Func<Hello> hello, Func<Task<byte[]>> state, Action poke, TailStreams.LogResolver resolveLog,
        ILogger log, TimeProvider clock, string version)
    {
        _settingsPath = settingsPath;
        _hello = hello;
        _state = state;
        _poke = poke;
        _resolveLog = resolveLog;
        _log = log;
        _clock = clock;
        _version = version;
    }

    /// <summary>True while a connection is up (for status and tests).</summary>
    public bool Connected { get; private set; }

    /// <summary>Something the state shows may have changed: send it soon if it did. Never blocks.</summary>
    public void StateMayHaveChanged() => _stateChanged.Set();

    public async Task RunAsync(CancellationToken stop)
    {
        var attempt = 0;
        while (!stop.IsCancellationRequested)
        {
            HubSettings? settings;
            try
            {
                settings = HubSettings.TryLoad(_settingsPath);
            }
            catch (Core.BelayException e)
            {
                _log.Error("hub: {Error}; not connecting", e.Message);
                settings = null;
            }
            if (settings is null)
            {
                return;
            }
            var started = _clock.GetUtcNow();
            Outcome outcome;
            try
            {
                outcome = await ConnectOnceAsync(settings, stop).ConfigureAwait(false);
            }
            catch (Core.BelayException e)
            {
                // hub.json that cannot be used (a credential this OS cannot read, a CA that does not load).
                _log.Error("hub {Url}: {Error}", settings.Url, e.Message);
                outcome = Outcome.Refused;
            }
            if (stop.IsCancellationRequested)
            {
                break;
            }
            attempt = _clock.GetUtcNow() - started >= StableAfter ? 0 : attempt + 1;
            var delay = outcome == Outcome.Refused ? Backoff.Cap : Backoff.FullJitter(attempt, Random.Shared.NextDouble());
            _log.Information("hub: reconnecting in {Delay:0.0} s", delay.TotalSeconds);
            try
            {
                await Task.Delay(delay, _clock, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private enum Outcome
    {
        Failed,
        Refused,
        Ended,
    }

    private async Task<Outcome> ConnectOnceAsync(HubSettings settings, CancellationToken stop)
    {
        var uri = settings.ConnectUri;
        using var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(15),
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        };
        if (settings.CertificateValidator() is { } validator)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = validator;
        }
        using var invoker = new HttpMessageInvoker(handler);
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer " + settings.ReadCredential());
        socket.Options.SetRequestHeader("User-Agent", "belay-agent/" + _version);
        socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(20);
        socket.Options.KeepAliveTimeout = TimeSpan.FromSeconds(10);
        socket.Options.CollectHttpResponseDetails = true;
        using (var connect = CancellationTokenSource.CreateLinkedTokenSource(stop))
        {
            connect.CancelAfter(ConnectTimeout);
            try
            {
                if (uri.Scheme == "wss")
                {
                    SystemRoots.Preload();
                    await SystemRoots.WhenLoaded.WaitAsync(connect.Token).ConfigureAwait(false);
                }
                await socket.ConnectAsync(uri, invoker, connect.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or HttpRequestException or OperationCanceledException or IOException
                                          or System.Security.Authentication.AuthenticationException)
            {
                if (stop.IsCancellationRequested)
                {
                    return Outcome.Ended;
                }
                if (socket.HttpStatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                {
                    _log.Error("hub {Url} refused this host's credential (HTTP {Status}): it was revoked or is unknown; re-enroll with belay install --hub URL --enroll-token TOKEN",
                        settings.Url, (int)socket.HttpStatusCode);
                    return Outcome.Refused;
                }
                var why = e is OperationCanceledException ? $"no answer within {ConnectTimeout.TotalSeconds:0} s" : Describe(e);
                _log.Warning("hub {Url}: cannot connect: {Error}", settings.Url, why);
                return Outcome.Failed;
            }
        }
        _log.Information("hub {Url}: connected as host {HostId}", settings.Url, settings.HostId);
        var settingsStamp = Stamp(_settingsPath);
        Connected = true;
        _queue.Clear();
        var tails = new TailStreams(_resolveLog, _queue, _clock, m => _log.Information("hub: {Message}", m));
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stop);
        try
        {
            _queue.EnqueueControl(HubMessages.Serialize(_hello(), HubJsonContext.Default.Hello));
            var sending = SendLoopAsync(socket, session);
            var receiving = ReceiveLoopAsync(socket, tails, session);
            var reporting = StateLoopAsync(tails, () => Stamp(_settingsPath) != settingsStamp, session);
            await Task.WhenAny(sending, receiving).ConfigureAwait(false);
            await session.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(Quietly(sending), Quietly(receiving), Quietly(reporting)).ConfigureAwait(false);
            var reason = socket.CloseStatus is { } status ? $"closed by the hub ({(int)status} {socket.CloseStatusDescription})" : "connection lost";
            if (!stop.IsCancellationRequested)
            {
                _log.Warning("hub {Url}: {Reason}", settings.Url, reason);
            }
            // Even after a 4001 (revoked) it asks once more, soon: the hub's 401 is what makes it wait the whole cap.
            return Outcome.Ended;
        }
        finally
        {
            Connected = false;
            await tails.CloseAllAsync().ConfigureAwait(false);
            _queue.Clear();
            if (socket.State == WebSocketState.Open)
            {
                using var bye = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                try
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "agent stopping", bye.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
                {
                }
            }
        }
    }

    private async Task SendLoopAsync(ClientWebSocket socket, CancellationTokenSource session)
    {
        while (!session.IsCancellationRequested)
        {
            var frame = await _queue.DequeueAsync(session.Token).ConfigureAwait(false);
            // A send that does not complete (a hub that stopped reading) ends the connection.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(session.Token);
            timeout.CancelAfter(SendTimeout);
            await socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, timeout.Token).ConfigureAwait(false);
        }
    }

    private async Task ReceiveLoopAsync(ClientWebSocket socket, TailStreams tails, CancellationTokenSource session)
    {
        var buffer = new byte[HubMessages.MaxFrameBytes];
        while (!session.IsCancellationRequested)
        {
            var length = 0;
            ValueWebSocketReceiveResult result;
            do
            {
                if (length == buffer.Length)
                {
                    await socket.CloseOutputAsync((WebSocketCloseStatus)HubCloseCodes.TooBig, "frame too big", session.Token).ConfigureAwait(false);
                    return;
                }
                result = await socket.ReceiveAsync(buffer.AsMemory(length), session.Token).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                length += result.Count;
            }
            while (!result.EndOfMessage);
            Dispatch(buffer.AsSpan(0, length), tails);
        }
    }

    private void Dispatch(ReadOnlySpan<byte> frame, TailStreams tails)
    {
        try
        {
            switch (HubMessages.TypeOf(frame))
            {
                case HubMessages.PokeType:
                    _log.Information("hub: poke: checking the feed now");
                    _poke();
                    break;
                case HubMessages.TailOpenType:
                    tails.Open(HubMessages.Parse(frame, HubJsonContext.Default.TailOpen));
                    break;
                case HubMessages.TailCreditType:
                    tails.Credit(HubMessages.Parse(frame, HubJsonContext.Default.TailCredit));
                    break;
                case HubMessages.TailCloseType:
                    tails.Close(HubMessages.Parse(frame, HubJsonContext.Default.TailClose));
                    break;
                case var other:
                    // A newer hub may know more; this agent does nothing it does not know.
                    _log.Debug("hub: ignored a message of type {Type}", other ?? "(none)");
                    break;
            }
        }
        catch (JsonException e)
        {
            _log.Warning("hub: ignored a malformed message: {Error}", e.Message);
        }
    }

    private async Task StateLoopAsync(TailStreams tails, Func<bool> settingsChanged, CancellationTokenSource session)
    {
        byte[]? sent = null;
        var cancellationToken = session.Token;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (settingsChanged())
            {
                // Re-enrolled (or moved to another hub) by belay install: reconnect with the new settings.
                _log.Information("hub: {File} changed; reconnecting", _settingsPath);
                await session.CancelAsync().ConfigureAwait(false);
                return;
            }
            try
            {
                var state = await _state().ConfigureAwait(false);
                if (sent is null || !state.AsSpan().SequenceEqual(sent))
                {
                    _queue.SetState(HubMessages.StateFrame(state));
                    sent = state;
                    // The hub takes one state a second (a burst of ten) and drops the rest unread: a deploy's quick
                    // steps are sent at that pace, the last of them always (the signal stays set while this waits).
                    await Task.Delay(StateSpacing, _clock, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is IOException or JsonException or Core.BelayException or UnauthorizedAccessException)
            {
                _log.Debug("hub: state not sent: {Error}", e.Message);
            }
            tails.Tick();
            try
            {
                await _stateChanged.WaitAsync(StateEvery, _clock, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static (DateTime, long) Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1);
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
    }

    private static string Describe(Exception e)
    {
        var message = e.Message;
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            message += ": " + inner.Message;
        }
        return message;
    }
}
