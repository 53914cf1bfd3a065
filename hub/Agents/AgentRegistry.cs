using System.Collections.Concurrent;
using Belay.Core.Hub;

namespace Belay.Hub.Agents;

/// <summary>
/// The agents connected to this hub node, by host id. One connection per host: a second one
/// (the agent reconnected before the hub noticed the first was gone) replaces the first.
/// </summary>
internal sealed class AgentRegistry
{
    private readonly ConcurrentDictionary<string, AgentConnection> _connections = new(StringComparer.Ordinal);

    public int Count => _connections.Count;

    public IReadOnlyCollection<string> HostIds => [.. _connections.Keys];

    public IEnumerable<AgentConnection> All => _connections.Values;

    public void Register(AgentConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        AgentConnection? previous = null;
        _connections.AddOrUpdate(connection.HostId, connection, (_, old) =>
        {
            previous = old;
            return connection;
        });
        previous?.Close(HubCloseCodes.Replaced, "replaced by a newer connection of the same host");
    }

    public void Unregister(AgentConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connections.TryRemove(new KeyValuePair<string, AgentConnection>(connection.HostId, connection));
    }

    public AgentConnection? Find(string hostId) => _connections.TryGetValue(hostId, out var connection) ? connection : null;

    public bool IsConnected(string hostId) => _connections.ContainsKey(hostId);
}
