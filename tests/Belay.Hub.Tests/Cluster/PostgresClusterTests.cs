using System.Net.WebSockets;
using Belay.Hub.Agents;
using Belay.Hub.Cluster;
using Belay.Hub.Logs;
using Belay.Hub.Storage;
using Belay.TestSupport;

namespace Belay.Hub.Tests.Cluster;

/// <summary>Two nodes' view of each other on a real PostgreSQL: who holds which agent, and when a node's word stops counting.</summary>
public sealed class PostgresClusterTests(PostgresServer postgres) : IAsyncDisposable
{
    private readonly CancellationToken _cancel = TestContext.Current.CancellationToken;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _running = [];
    private readonly List<PostgresHubStore> _stores = [];

    private async Task<(PostgresCluster Node, FakeClock Clock)> StartNodeAsync(string url, string name)
    {
        var store = new PostgresHubStore(PostgresUrl.Parse(url));
        _stores.Add(store);
        var clock = new FakeClock(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
        var node = new PostgresCluster(store, name, Serilog.Core.Logger.None, clock);
        node.Attach(new AgentRegistry(), new TailSessions(clock, node));
        _running.Add(node.RunAsync(_stop.Token));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (postgres.Psql(url, $"SELECT count(*) FROM hub_nodes WHERE id = '{node.NodeId}'").StdOut.Trim() != "1")
        {
            Assert.True(DateTime.UtcNow < deadline, $"node {name} did not register");
            await Task.Delay(50, _cancel);
        }
        return (node, clock);
    }

    private static AgentConnection Agent(string hostId, IHubCluster cluster, TimeProvider clock)
    {
        var socket = WebSocket.CreateFromStream(new MemoryStream(), new WebSocketCreationOptions { IsServer = true });
        return new AgentConnection(hostId, "127.0.0.1", socket, new TailSessions(clock, cluster), new StateWriter(null!), null!, cluster, Serilog.Core.Logger.None, clock);
    }

    [Fact]
    public async Task ANodeSeesWhichAgentsAnotherHoldsUntilThatNodeFallsSilentOrLetsThemGo()
    {
        var url = postgres.CreateDatabase("cluster");
        await new PostgresHubStore(PostgresUrl.Parse(url)).MigrateAsync(_cancel);
        var (a, clockA) = await StartNodeAsync(url, "a");
        var (b, clockB) = await StartNodeAsync(url, "b");
        using var agent = Agent("host1", a, clockA);
        await a.HoldAsync(agent, _cancel);

        var seen = await b.LocateAsync(null, _cancel);
        Assert.Equal(new AgentLocation(a.NodeId, agent.ConnectedAt), seen["host1"]);
        Assert.Empty(await a.LocateAsync(null, _cancel)); // its own agents are not "elsewhere"
        var upstream = await b.RemoteAsync("host1", _cancel);
        Assert.Equal(a.NodeId, upstream!.RemoteNode);

        // Node a falls silent (no heartbeat, as when it is killed): past the staleness its rows no longer count.
        clockB.Advance(PostgresCluster.Stale + TimeSpan.FromSeconds(1));
        Assert.Empty(await b.LocateAsync(null, _cancel));
        Assert.Null(await b.RemoteAsync("host1", _cancel));

        // A connection that ends takes its row along.
        clockB.Advance(-(PostgresCluster.Stale + TimeSpan.FromSeconds(1)));
        await a.ReleaseAsync(agent);
        Assert.Empty(await b.LocateAsync(null, _cancel));
        Assert.Equal("0", postgres.Psql(url, "SELECT count(*) FROM agent_nodes").StdOut.Trim());
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_running);
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }
        _stop.Dispose();
    }
}
