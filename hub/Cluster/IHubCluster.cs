using Belay.Hub.Agents;
using Belay.Hub.Logs;

namespace Belay.Hub.Cluster;

/// <summary>
/// The hub nodes that share one database, as one node sees them: which node holds which agent,
/// and a way to reach an agent held by another node (a poke, a live tail). On SQLite there is one
/// node (<see cref="SingleNode"/>); on PostgreSQL there may be several (<see cref="PostgresCluster"/>),
/// which talk through the database itself (rows and LISTEN/NOTIFY), never through a second service.
/// Nothing here may fail an agent's connection: a database that is away costs cross-node
/// features, logged, until it is back.
/// </summary>
internal interface IHubCluster
{
    /// <summary>This node's id (random per start).</summary>
    string NodeId { get; }

    /// <summary>Where this node's live-tail ids start: ids are unique across the nodes, as an agent's tails may come from several.</summary>
    long TailIdBase { get; }

    /// <summary>Runs the node's side of the cluster (its heartbeat, its mailbox) until <paramref name="stop"/>.</summary>
    Task RunAsync(CancellationToken stop);

    /// <summary>This node now holds <paramref name="agent"/>'s connection.</summary>
    Task HoldAsync(AgentConnection agent, CancellationToken cancellationToken);

    /// <summary>The connection ended; readers on other nodes of its relayed tails wait for the host to come back.</summary>
    Task ReleaseAsync(AgentConnection agent);

    /// <summary>Where the agents of <paramref name="hostIds"/> (all, when null) are connected on other, live nodes.</summary>
    Task<IReadOnlyDictionary<string, AgentLocation>> LocateAsync(IReadOnlyCollection<string>? hostIds, CancellationToken cancellationToken);

    /// <summary>An upstream for a host held by another node, for a poke or a live tail; null when no live node holds it.</summary>
    Task<ITailUpstream?> RemoteAsync(string hostId, CancellationToken cancellationToken);

    /// <summary>Owner side: a tail message of <paramref name="agent"/> for a stream a reader on another node opened; false when it is not one.</summary>
    bool RelayFromAgent(AgentConnection agent, long id, ReadOnlySpan<byte> frame);
}

/// <summary>An agent's connection on some node: the node, and when the connection began (a new connection is a new stream).</summary>
internal sealed record AgentLocation(string NodeId, DateTimeOffset Since);

/// <summary>One hub process on its own database (SQLite): every agent it knows of is its own.</summary>
internal sealed class SingleNode : IHubCluster
{
    public string NodeId { get; } = "local";

    public long TailIdBase => 0;

    public Task RunAsync(CancellationToken stop) => Task.CompletedTask;

    public Task HoldAsync(AgentConnection agent, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task ReleaseAsync(AgentConnection agent) => Task.CompletedTask;

    public Task<IReadOnlyDictionary<string, AgentLocation>> LocateAsync(IReadOnlyCollection<string>? hostIds, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyDictionary<string, AgentLocation>>(new Dictionary<string, AgentLocation>());

    public Task<ITailUpstream?> RemoteAsync(string hostId, CancellationToken cancellationToken) => Task.FromResult<ITailUpstream?>(null);

    public bool RelayFromAgent(AgentConnection agent, long id, ReadOnlySpan<byte> frame) => false;
}
