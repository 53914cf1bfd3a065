using Belay.Hub.Logs;

namespace Belay.Hub.Cluster;

/// <summary>A host whose agent is connected to another node: what is sent to it goes to that node's mailbox.</summary>
internal sealed class RemoteAgent(string node, string hostId, DateTimeOffset since, Action<string, string> notify, string self) : ITailUpstream
{
    public string HostId { get; } = hostId;

    public string? RemoteNode { get; } = node;

    /// <summary>When the agent's connection on that node began: a newer one means the tail must be opened again.</summary>
    public DateTimeOffset Since { get; } = since;

    /// <summary>Since when no live node holds the host (the reader waits for it to come back), or null.</summary>
    public DateTimeOffset? LostAt { get; set; }

    public void Send(byte[] frame) => notify(PostgresCluster.Channel(RemoteNode!), ClusterMessages.ToAgent(self, HostId, frame));

    public void TailOpened(long id)
    {
        // The node that holds the agent records it when the tail.open arrives.
    }
}
