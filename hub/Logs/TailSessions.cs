using System.Collections.Concurrent;
using Belay.Core.Hub;
using Belay.Hub.Agents;

namespace Belay.Hub.Logs;

/// <summary>
/// The live tails open through this hub node. Ids are the hub's, unique for the process, so a
/// connection can tell data for a stream it was asked for from data for one it never was.
/// A tail is opened for an operator's SSE request, survives that request for
/// <see cref="DetachedGrace"/> (a browser that lost its connection resumes it), and is closed on
/// the agent when no reader came back, when it is older than <see cref="HubMessages.StreamLifetime"/>
/// without renewal, or when its agent goes away.
/// </summary>
internal sealed class TailSessions
{
    public static readonly TimeSpan DetachedGrace = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<long, TailSession> _sessions = new();
    private readonly TimeProvider _clock;
    private long _nextId;

    public TailSessions(TimeProvider clock, Cluster.IHubCluster cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        _clock = clock;
        _nextId = cluster.TailIdBase;
    }

    public int Count => _sessions.Count;

    public TailSession? Find(long id) => _sessions.TryGetValue(id, out var session) ? session : null;

    public IEnumerable<TailSession> All => _sessions.Values;

    /// <summary>Live (not ended) tails on one host through this node, readers attached or not.</summary>
    public int OpenOn(ITailUpstream agent) => _sessions.Values.Count(s => s.HostId == agent.HostId && !s.Ended);

    /// <summary>A tail of the same operator and log that lost its reader and can be resumed.</summary>
    public TailSession? FindDetached(string key) =>
        _sessions.Values.Where(s => !s.Ended && s.DetachedAt is not null && s.Key == key).OrderByDescending(s => s.OpenedAt).FirstOrDefault();

    /// <summary>Opens a tail on <paramref name="agent"/> (tail.open with <paramref name="lines"/>); null when the agent already has its maximum.</summary>
    public TailSession? Open(ITailUpstream agent, string program, string stream, int lines, string owner, string credentialHash)
    {
        ArgumentNullException.ThrowIfNull(agent);
        if (OpenOn(agent) >= HubMessages.MaxStreamsPerAgent)
        {
            return null;
        }
        var id = Interlocked.Increment(ref _nextId);
        var session = new TailSession(id, agent, program, stream, owner, credentialHash, _clock.GetUtcNow());
        _sessions[id] = session;
        agent.TailOpened(id);
        agent.Send(HubMessages.Serialize(new TailOpen { Id = id, Program = program, Stream = stream, Lines = lines, Follow = true }, HubJsonContext.Default.TailOpen));
        return session;
    }

    /// <summary>Another <see cref="HubMessages.StreamLifetime"/> for a tail someone is still watching.</summary>
    public void Renew(TailSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        session.Renew(_clock.GetUtcNow());
        session.Agent.Send(HubMessages.Serialize(new TailOpen { Id = session.Id, Program = session.Program, Stream = session.Stream, Lines = 0, Follow = true },
            HubJsonContext.Default.TailOpen));
    }

    /// <summary>Ends a tail here and on the agent.</summary>
    public void Close(TailSession session, string reason)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (!session.Ended)
        {
            session.End(reason, _clock.GetUtcNow());
            session.Agent.Send(HubMessages.Serialize(new TailClose { Id = session.Id }, HubJsonContext.Default.TailClose));
        }
    }

    /// <summary>
    /// The host's tails through another node follow it to <paramref name="upstream"/> (it reconnected there):
    /// each is opened again on the host, for new lines only, and goes on from the offset it had reached.
    /// </summary>
    public static void Move(TailSession session, ITailUpstream upstream)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(upstream);
        session.MoveTo(upstream);
        upstream.TailOpened(session.Id);
        upstream.Send(HubMessages.Serialize(new TailOpen { Id = session.Id, Program = session.Program, Stream = session.Stream, Lines = 0, Follow = true },
            HubJsonContext.Default.TailOpen));
    }

    /// <summary>The agent went away: its tails end (their readers are told why).</summary>
    public void EndAll(ITailUpstream agent, string reason)
    {
        foreach (var session in _sessions.Values.Where(s => ReferenceEquals(s.Agent, agent)))
        {
            session.End(reason, _clock.GetUtcNow());
        }
    }

    /// <summary>Once a second: closes tails without a reader past the grace, or past their lifetime; forgets ended ones.</summary>
    public void Sweep()
    {
        var now = _clock.GetUtcNow();
        foreach (var session in _sessions.Values)
        {
            if (session.Ended)
            {
                if (session.DetachedAt is { } gone && now - gone >= DetachedGrace || session.EndedAt is { } ended && now - ended >= DetachedGrace)
                {
                    _sessions.TryRemove(session.Id, out _);
                }
                continue;
            }
            if (session.DetachedAt is { } detached && now - detached >= DetachedGrace)
            {
                Close(session, "no reader");
            }
            else if (now - session.RenewedAt >= HubMessages.StreamLifetime + TimeSpan.FromSeconds(30))
            {
                // The agent ends it at 15 minutes; this is the hub's own bound in case it does not.
                Close(session, $"expired after {HubMessages.StreamLifetime.TotalMinutes:0} minutes without renewal");
            }
        }
    }
}
