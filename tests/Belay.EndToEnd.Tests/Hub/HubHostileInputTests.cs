using System.Net.WebSockets;
using System.Text;
using Belay.Core.Hub;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Hub;

/// <summary>
/// Agents that break the protocol, against the shipped hub: each one loses its own connection
/// (with the close code that says why) or is rate-limited, and a well-behaved agent connected
/// all along keeps its connection and its live tail working.
/// </summary>
public sealed class HubHostileInputTests : IClassFixture<HubHostileInputTests.Fixture>
{
    private readonly Fixture _f;

    public HubHostileInputTests(Fixture fixture)
    {
        _f = fixture;
    }

    public sealed class Fixture : IDisposable
    {
        public Fixture()
        {
            Hub = new HubProcess();
            AdminToken = Hub.Operator("admin", "admin");
            Tokens = Hub.EnrollToken("hostile", uses: 50);
            Good = FakeAgent.ConnectAsync(Hub.BaseUri, Tokens, "good").GetAwaiter().GetResult();
        }

        public HubProcess Hub { get; }
        public string AdminToken { get; }
        public string Tokens { get; }
        public FakeAgent Good { get; }

        public void Dispose()
        {
            Good.Dispose();
            Hub.Dispose();
        }
    }

    private async Task<FakeAgent> HostileAsync(string name) => await FakeAgent.ConnectAsync(_f.Hub.BaseUri, _f.Tokens, name);

    /// <summary>The good agent is still connected, and a poke from an operator reaches it.</summary>
    private async Task GoodAgentStillWorksAsync()
    {
        Assert.Equal(WebSocketState.Open, _f.Good.State);
        using var http = _f.Hub.Client(_f.AdminToken);
        using var poke = await http.PostAsync($"api/v1/hosts/{_f.Good.HostId}/poke", null);
        Assert.True(poke.IsSuccessStatusCode, await poke.Content.ReadAsStringAsync());
        await _f.Good.WaitForAsync("\"poke\"", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task AnOversizedFrameClosesThatConnectionWith1009()
    {
        using var agent = await HostileAsync("oversized");
        var big = Encoding.UTF8.GetBytes("{\"t\":\"state\",\"state\":{\"pad\":\"" + new string('x', 70 * 1024) + "\"}}");
        await agent.SendAsync(big);
        Assert.Equal((WebSocketCloseStatus)HubCloseCodes.TooBig, await agent.ClosedAsync(TimeSpan.FromSeconds(10)));
        await GoodAgentStillWorksAsync();
    }

    [Fact]
    public async Task MalformedJsonClosesThatConnectionWith1007()
    {
        using var agent = await HostileAsync("malformed");
        await agent.SendAsync("{\"t\":\"state\",\"state\":{\"version\":");
        Assert.Equal((WebSocketCloseStatus)HubCloseCodes.Malformed, await agent.ClosedAsync(TimeSpan.FromSeconds(10)));
        using var other = await HostileAsync("not-an-object");
        await other.SendAsync("[1,2,3]");
        Assert.Equal((WebSocketCloseStatus)HubCloseCodes.Malformed, await other.ClosedAsync(TimeSpan.FromSeconds(10)));
        using var wrongShape = await HostileAsync("wrong-shape");
        await wrongShape.SendAsync("{\"t\":\"tail.data\",\"id\":\"seven\",\"offset\":[],\"text\":5}");
        Assert.Equal((WebSocketCloseStatus)HubCloseCodes.Malformed, await wrongShape.ClosedAsync(TimeSpan.FromSeconds(10)));
        await GoodAgentStillWorksAsync();
    }

    [Fact]
    public async Task AnUnknownMessageTypeClosesThatConnectionWith1008()
    {
        using var agent = await HostileAsync("unknown-type");
        await agent.SendAsync("{\"t\":\"exec\",\"command\":\"rm -rf /\"}");
        Assert.Equal((WebSocketCloseStatus)HubCloseCodes.Policy, await agent.ClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("unknown message type 'exec'", agent.CloseDescription, StringComparison.Ordinal);
        await GoodAgentStillWorksAsync();
    }

    [Fact]
    public async Task TailDataForAStreamNeverOpenedClosesThatConnectionWith1008()
    {
        using var agent = await HostileAsync("uninvited-data");
        await agent.SendAsync(HubMessages.TailDataFrame(424242, 0, "pretend this is a log\n"));
        Assert.Equal((WebSocketCloseStatus)HubCloseCodes.Policy, await agent.ClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("never opened", agent.CloseDescription, StringComparison.Ordinal);
        await GoodAgentStillWorksAsync();
    }

    [Fact]
    public async Task AFloodOfStatesIsRateLimitedAndEndsInAClose()
    {
        using var agent = await HostileAsync("flood");
        var state = "{\"version\":\"6.6.6\",\"programs\":[{\"name\":\"x\",\"state\":\"running\"}],\"pad\":\"" + new string('y', 2000) + "\"}";
        var sent = 0;
        try
        {
            for (; sent < 20_000 && agent.State == WebSocketState.Open; sent++)
            {
                await agent.SendStateAsync(state);
            }
        }
        catch (WebSocketException)
        {
            // The hub closed it mid-flood.
        }
        Assert.Equal((WebSocketCloseStatus)HubCloseCodes.Policy, await agent.ClosedAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("messages a second", agent.CloseDescription, StringComparison.Ordinal);
        Assert.True(sent < 20_000, "the flood was never stopped");
        // The few states taken (at most one a second, burst ten) reached the fleet; the rest were dropped unread.
        var host = _f.Hub.Get(_f.AdminToken, $"api/v1/hosts/{agent.HostId}").GetProperty("host");
        Assert.Equal("6.6.6", host.GetProperty("version").GetString());
        Assert.Contains("more than one state a second", _f.Hub.Output, StringComparison.Ordinal);
        await GoodAgentStillWorksAsync();
    }

    [Fact]
    public async Task AnUnknownOrMissingCredentialIsRefusedBeforeAnyWebSocket()
    {
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer bhc_guessed");
        socket.Options.CollectHttpResponseDetails = true;
        var ws = new UriBuilder(new Uri(_f.Hub.BaseUri, "agent/v1/connect")) { Scheme = "ws" }.Uri;
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(ws, CancellationToken.None));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, socket.HttpStatusCode);
        using var anonymous = new ClientWebSocket();
        anonymous.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => anonymous.ConnectAsync(ws, CancellationToken.None));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.HttpStatusCode);
        await GoodAgentStillWorksAsync();
    }
}
