namespace Belay.Hub.Logs;

/// <summary>
/// Where a live tail's frames to the agent go (tail.open, tail.credit, tail.close): the agent's
/// connection when this node holds it, or the node that does, through PostgreSQL.
/// </summary>
internal interface ITailUpstream
{
    string HostId { get; }

    /// <summary>The node that holds the agent, or null when this one does.</summary>
    string? RemoteNode { get; }

    /// <summary>Queues a frame for the agent.</summary>
    void Send(byte[] frame);

    /// <summary>The hub is opening tail <paramref name="id"/> on the agent (the agent's data for it is accepted from now on).</summary>
    void TailOpened(long id);
}
