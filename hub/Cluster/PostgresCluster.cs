using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Threading.Channels;
using Belay.Core.Hub;
using Belay.Hub.Agents;
using Belay.Hub.Logs;
using Belay.Hub.Storage;
using Npgsql;
using ILogger = Serilog.ILogger;

namespace Belay.Hub.Cluster;

/// <summary>
/// Several hub nodes on one PostgreSQL database, with nothing else between them:
/// <list type="bullet">
/// <item>each node has a row in <c>hub_nodes</c> that it touches every <see cref="Heartbeat"/>; a node
/// not seen for <see cref="Stale"/> is dead, and the rows of <c>agent_nodes</c> that say it holds an
/// agent no longer count (they are deleted after <see cref="Forget"/>);</item>
/// <item>a node records in <c>agent_nodes</c> each agent it holds, and deletes the row when the
/// connection ends;</item>
/// <item>each node LISTENs on its own channel; a node sends another a frame for an agent (a poke,
/// a tail.open, credit, close) with <c>pg_notify</c>, and the node that holds the agent sends the
/// agent's tail messages back the same way (<see cref="ClusterMessages"/>);</item>
/// <item>a live tail read through a node that does not hold the agent follows the agent: when it
/// reconnects to another node (its node died, or it was restarted), the tail is opened there again,
/// for new lines, and the reader's stream goes on from its offset (<see cref="TailSession.MoveTo"/>).</item>
/// </list>
/// A database that is away costs the cross-node features (logged) until it is back; agents' own
/// connections are never refused for it. Nodes' clocks are compared (heartbeats): keep them in
/// step (NTP), a few seconds apart at most.
/// </summary>
internal sealed class PostgresCluster : IHubCluster
{
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(3);
    public static readonly TimeSpan Stale = TimeSpan.FromSeconds(15);
    public static readonly TimeSpan Forget = TimeSpan.FromMinutes(10);

    /// <summary>How long a reader on this node waits for a host that no live node holds before its tail ends.</summary>
    public static readonly TimeSpan LostGrace = TimeSpan.FromSeconds(60);

    private readonly NpgsqlDataSource _source;
    private readonly string _address;
    private readonly ILogger _log;
    private readonly TimeProvider _clock;
    private readonly Channel<(string Channel, string Payload)> _outbox =
        System.Threading.Channels.Channel.CreateBounded<(string, string)>(new BoundedChannelOptions(20_000) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly ConcurrentDictionary<long, (string Reader, AgentConnection Agent)> _relays = new();
    private AgentRegistry? _agents;
    private TailSessions? _tails;
    private long _dropped;

    public PostgresCluster(PostgresHubStore store, string address, ILogger log, TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(store);
        _source = store.DataSource;
        _address = address;
        _log = log;
        _clock = clock;
    }

    public string NodeId { get; } = RandomNumberGenerator.GetHexString(16, lowercase: true);

    // Under 2^53 (JavaScript's exact integers): a random 20-bit prefix per node, 32 bits of count.
    public long TailIdBase { get; } = RandomNumberGenerator.GetInt32(1, 1 << 20) * (1L << 32);

    public static string Channel(string node) => "belay_hub_" + node;

    /// <summary>The registry and the tails of this node, which the mailbox delivers to (they exist before the node runs).</summary>
    public void Attach(AgentRegistry agents, TailSessions tails)
    {
        _agents = agents;
        _tails = tails;
    }

    public async Task RunAsync(CancellationToken stop)
    {
        await TryAsync("register this node", c => Execute(c, "INSERT INTO hub_nodes (id, address, started_at, seen_at) VALUES (@id, @a, @t, @t)",
            ("@id", NodeId), ("@a", _address), ("@t", Now())), stop).ConfigureAwait(false);
        await Task.WhenAll(ListenAsync(stop), PublishAsync(stop), HeartbeatAsync(stop), FollowAsync(stop)).ConfigureAwait(false);
        // A clean stop: the other nodes need not wait for this one to go stale.
        await TryAsync("unregister this node", async c =>
        {
            await Execute(c, "DELETE FROM agent_nodes WHERE node_id = @id", ("@id", NodeId)).ConfigureAwait(false);
            await Execute(c, "DELETE FROM hub_nodes WHERE id = @id", ("@id", NodeId)).ConfigureAwait(false);
        }, CancellationToken.None).ConfigureAwait(false);
    }

    public Task HoldAsync(AgentConnection agent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agent);
        return TryAsync($"record that this node holds host {agent.HostId}", c => Execute(c, """
            INSERT INTO agent_nodes (host_id, node_id, since) VALUES (@h, @n, @s)
            ON CONFLICT (host_id) DO UPDATE SET node_id = excluded.node_id, since = excluded.since
            """, ("@h", agent.HostId), ("@n", NodeId), ("@s", SqlHubStore.Time(agent.ConnectedAt))), cancellationToken);
    }

    public Task ReleaseAsync(AgentConnection agent)
    {
        ArgumentNullException.ThrowIfNull(agent);
        foreach (var (id, relay) in _relays)
        {
            if (ReferenceEquals(relay.Agent, agent))
            {
                _relays.TryRemove(id, out _);
            }
        }
        return TryAsync($"record that host {agent.HostId} left this node", c => Execute(c,
            "DELETE FROM agent_nodes WHERE host_id = @h AND node_id = @n AND since = @s",
            ("@h", agent.HostId), ("@n", NodeId), ("@s", SqlHubStore.Time(agent.ConnectedAt))), CancellationToken.None);
    }

    public async Task<IReadOnlyDictionary<string, AgentLocation>> LocateAsync(IReadOnlyCollection<string>? hostIds, CancellationToken cancellationToken)
    {
        var all = await LocateAnyAsync(hostIds, cancellationToken).ConfigureAwait(false);
        return all.Where(p => p.Value.NodeId != NodeId).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
    }

    public async Task<ITailUpstream?> RemoteAsync(string hostId, CancellationToken cancellationToken)
    {
        var found = await LocateAsync([hostId], cancellationToken).ConfigureAwait(false);
        return found.TryGetValue(hostId, out var where) ? Remote(where, hostId) : null;
    }

    public bool RelayFromAgent(AgentConnection agent, long id, ReadOnlySpan<byte> frame)
    {
        ArgumentNullException.ThrowIfNull(agent);
        if (!_relays.TryGetValue(id, out var relay) || !ReferenceEquals(relay.Agent, agent))
        {
            return false;
        }
        if (HubMessages.TypeOf(frame) == HubMessages.TailEndType)
        {
            _relays.TryRemove(id, out _);
        }
        foreach (var payload in ClusterMessages.ForReader(NodeId, agent.HostId, frame))
        {
            Notify(Channel(relay.Reader), payload);
        }
        return true;
    }

    // --- the mailbox --------------------------------------------------------------------------------

    private void Notify(string channel, string payload)
    {
        if (!_outbox.Writer.TryWrite((channel, payload)) && Interlocked.Increment(ref _dropped) % 1000 == 1)
        {
            _log.Warning("hub cluster: the queue to the other nodes is full (is PostgreSQL slow?); {Dropped} messages dropped so far", _dropped);
        }
    }

    private RemoteAgent Remote(AgentLocation where, string hostId) => new(where.NodeId, hostId, where.Since, Notify, NodeId);

    private async Task ListenAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _source.OpenConnectionAsync(stop).ConfigureAwait(false);
                connection.Notification += (_, e) => Deliver(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel(NodeId)}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stop).ConfigureAwait(false);
                }
                while (!stop.IsCancellationRequested)
                {
                    await connection.WaitAsync(stop).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException)
            {
                _log.Error("hub cluster: listening for the other nodes failed, retrying in 2 s: {Error}", e.Message);
                await Delay(TimeSpan.FromSeconds(2), stop).ConfigureAwait(false);
            }
        }
    }

    private async Task PublishAsync(CancellationToken stop)
    {
        var batch = new List<(string Channel, string Payload)>();
        while (true)
        {
            try
            {
                if (!await _outbox.Reader.WaitToReadAsync(stop).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            batch.Clear();
            while (batch.Count < 500 && _outbox.Reader.TryRead(out var item))
            {
                batch.Add(item);
            }
            try
            {
                await using var connection = await _source.OpenConnectionAsync(stop).ConfigureAwait(false);
                await using var notify = new NpgsqlBatch(connection);
                foreach (var (channel, payload) in batch)
                {
                    var command = new NpgsqlBatchCommand("SELECT pg_notify($1, $2)");
                    command.Parameters.Add(new NpgsqlParameter { Value = channel });
                    command.Parameters.Add(new NpgsqlParameter { Value = payload });
                    notify.BatchCommands.Add(command);
                }
                await notify.ExecuteNonQueryAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException)
            {
                _log.Error("hub cluster: {Count} messages to other nodes were lost: {Error}", batch.Count, e.Message);
                await Delay(TimeSpan.FromSeconds(1), stop).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A payload from another node: a frame for an agent held here, or a tail message for a reader here.</summary>
    private void Deliver(string payload)
    {
        if (ClusterMessages.Parse(payload) is not { } message || _agents is null || _tails is null)
        {
            return;
        }
        try
        {
            if (message.Kind == 'a')
            {
                ToAgent(message.From, message.HostId, message.Frame);
            }
            else
            {
                ToReader(message.From, message.HostId, message.Frame);
            }
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException or FormatException or InvalidOperationException)
        {
            _log.Warning("hub cluster: a message from node {Node} that cannot be used: {Error}", message.From, e.Message);
        }
    }

    private void ToAgent(string from, string hostId, byte[] frame)
    {
        if (_agents!.Find(hostId) is not { } agent)
        {
            return; // it just left: the reader's node notices (agent_nodes) and follows it
        }
        switch (HubMessages.TypeOf(frame))
        {
            case HubMessages.TailOpenType:
                var open = HubMessages.Parse(frame, HubJsonContext.Default.TailOpen);
                _relays[open.Id] = (from, agent);
                agent.TailOpened(open.Id);
                agent.Send(frame);
                break;
            case HubMessages.TailCloseType:
                _relays.TryRemove(HubMessages.Parse(frame, HubJsonContext.Default.TailClose).Id, out _);
                agent.Send(frame);
                break;
            case HubMessages.TailCreditType or HubMessages.PokeType:
                agent.Send(frame);
                break;
            default:
                _log.Warning("hub cluster: node {Node} sent a frame for host {Host} that the hub never sends an agent", from, hostId);
                break;
        }
    }

    private void ToReader(string from, string hostId, byte[] frame)
    {
        var type = HubMessages.TypeOf(frame);
        long id = type switch
        {
            HubMessages.TailDataType => HubMessages.Parse(frame, HubJsonContext.Default.TailData).Id,
            HubMessages.TailSkipType => HubMessages.Parse(frame, HubJsonContext.Default.TailSkip).Id,
            HubMessages.TailEndType => HubMessages.Parse(frame, HubJsonContext.Default.TailEnd).Id,
            _ => 0,
        };
        if (_tails!.Find(id) is not { } session || session.Agent.RemoteNode != from || session.HostId != hostId)
        {
            return; // late: the tail ended, or moved on to another node
        }
        switch (type)
        {
            case HubMessages.TailDataType:
                var data = HubMessages.Parse(frame, HubJsonContext.Default.TailData);
                if (!session.OnData(data.Offset, data.Text ?? ""))
                {
                    _tails.Close(session, "the host sent past its credit");
                }
                break;
            case HubMessages.TailSkipType:
                session.OnSkip(HubMessages.Parse(frame, HubJsonContext.Default.TailSkip).Bytes);
                break;
            case HubMessages.TailEndType:
                var reason = HubMessages.Parse(frame, HubJsonContext.Default.TailEnd).Reason ?? "";
                session.End(reason.Length > 200 ? reason[..200] : reason, _clock.GetUtcNow());
                break;
        }
    }

    // --- liveness -----------------------------------------------------------------------------------

    private async Task HeartbeatAsync(CancellationToken stop)
    {
        var beats = 0;
        while (!stop.IsCancellationRequested)
        {
            await Delay(Heartbeat, stop).ConfigureAwait(false);
            if (stop.IsCancellationRequested)
            {
                return;
            }
            await TryAsync("heartbeat", async c =>
            {
                if (await Execute(c, "UPDATE hub_nodes SET seen_at = @t WHERE id = @id", ("@t", Now()), ("@id", NodeId)).ConfigureAwait(false) == 0)
                {
                    // Another node took this one for dead (a long outage) and forgot it: come back, with the agents still here.
                    _log.Warning("hub cluster: this node had been forgotten by the others; registering it and its {Count} agents again", _agents?.Count ?? 0);
                    await Execute(c, "INSERT INTO hub_nodes (id, address, started_at, seen_at) VALUES (@id, @a, @t, @t)", ("@id", NodeId), ("@a", _address),
                        ("@t", Now())).ConfigureAwait(false);
                    foreach (var agent in _agents?.All ?? [])
                    {
                        await HoldAsync(agent, stop).ConfigureAwait(false);
                    }
                }
                if (++beats % 20 == 0)
                {
                    var dead = SqlHubStore.Time(_clock.GetUtcNow() - Forget);
                    await Execute(c, "DELETE FROM agent_nodes WHERE node_id IN (SELECT id FROM hub_nodes WHERE seen_at < @dead)", ("@dead", dead)).ConfigureAwait(false);
                    await Execute(c, "DELETE FROM hub_nodes WHERE seen_at < @dead", ("@dead", dead)).ConfigureAwait(false);
                }
            }, stop).ConfigureAwait(false);
        }
    }

    /// <summary>Once a second: the tails read here of hosts held elsewhere follow their host when it moves.</summary>
    private async Task FollowAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            await Delay(TimeSpan.FromSeconds(1), stop).ConfigureAwait(false);
            var remote = _tails?.All.Where(s => !s.Ended && s.Agent is RemoteAgent).ToList() ?? [];
            if (remote.Count == 0 || stop.IsCancellationRequested)
            {
                continue;
            }
            IReadOnlyDictionary<string, AgentLocation> where;
            try
            {
                where = await LocateAnyAsync([.. remote.Select(s => s.HostId).Distinct()], stop).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException or Core.BelayException)
            {
                _log.Error("hub cluster: cannot tell where hosts are: {Error}", e.Message);
                continue;
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var now = _clock.GetUtcNow();
            foreach (var session in remote)
            {
                var upstream = (RemoteAgent)session.Agent;
                switch (TailFollow.Decide(upstream.RemoteNode!, upstream.Since, upstream.LostAt, where.GetValueOrDefault(session.HostId), NodeId, now, LostGrace))
                {
                    case TailFollow.Step.Stay:
                        upstream.LostAt = null;
                        break;
                    case TailFollow.Step.Wait:
                        upstream.LostAt ??= now;
                        break;
                    case TailFollow.Step.End:
                        _tails!.Close(session, "the host disconnected");
                        break;
                    case TailFollow.Step.MoveHere:
                        if (_agents!.Find(session.HostId) is { } local)
                        {
                            _log.Information("live log {Tail} of host {Host}: the host is on this node now; going on from offset {Offset}", session.Id, session.HostId,
                                session.NextOffset);
                            TailSessions.Move(session, local);
                        }
                        break;
                    case TailFollow.Step.MoveThere:
                        var there = where[session.HostId];
                        _log.Information("live log {Tail} of host {Host}: the host is on node {Node} now; going on from offset {Offset}", session.Id, session.HostId,
                            there.NodeId, session.NextOffset);
                        TailSessions.Move(session, Remote(there, session.HostId));
                        break;
                }
            }
        }
    }

    // --- plumbing -----------------------------------------------------------------------------------

    /// <summary>Where the agents of <paramref name="hostIds"/> (all, when null) are connected, on live nodes, this one included.</summary>
    private async Task<IReadOnlyDictionary<string, AgentLocation>> LocateAnyAsync(IReadOnlyCollection<string>? hostIds, CancellationToken cancellationToken)
    {
        await using var connection = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("""
            SELECT a.host_id, a.node_id, a.since FROM agent_nodes a JOIN hub_nodes n ON n.id = a.node_id
            WHERE n.seen_at > @fresh
            """ + (hostIds is null ? "" : " AND a.host_id = ANY(@hosts)"), connection);
        command.Parameters.AddWithValue("@fresh", SqlHubStore.Time(_clock.GetUtcNow() - Stale));
        if (hostIds is not null)
        {
            command.Parameters.AddWithValue("@hosts", hostIds.ToArray());
        }
        var found = new Dictionary<string, AgentLocation>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            found[reader.GetString(0)] = new AgentLocation(reader.GetString(1), SqlHubStore.ParseTime(reader.GetString(2)));
        }
        return found;
    }

    private string Now() => SqlHubStore.Time(_clock.GetUtcNow());

    private static async Task<int> Execute(NpgsqlConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        return await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    private async Task TryAsync(string what, Func<NpgsqlConnection, Task> action, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await action(connection).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException)
        {
            _log.Error("hub cluster: {What}: {Error}", what, e.Message);
        }
    }

    private async Task Delay(TimeSpan delay, CancellationToken stop)
    {
        try
        {
            await Task.Delay(delay, _clock, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}

/// <summary>What a live tail read on this node does about its host, held by another node (pure).</summary>
internal static class TailFollow
{
    public enum Step
    {
        /// <summary>The host is where the tail is open.</summary>
        Stay,

        /// <summary>No live node holds it: wait for it to come back.</summary>
        Wait,

        /// <summary>It has not come back within the grace: the tail ends.</summary>
        End,

        /// <summary>It is connected to this node now.</summary>
        MoveHere,

        /// <summary>It is connected to another node now (or anew to the same one).</summary>
        MoveThere,
    }

    public static Step Decide(string node, DateTimeOffset since, DateTimeOffset? lostAt, AgentLocation? now, string self, DateTimeOffset clock, TimeSpan grace)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (now is null)
        {
            return lostAt is { } lost && clock - lost >= grace ? Step.End : Step.Wait;
        }
        if (now.NodeId == node && now.Since == since)
        {
            return Step.Stay;
        }
        return now.NodeId == self ? Step.MoveHere : Step.MoveThere;
    }
}
