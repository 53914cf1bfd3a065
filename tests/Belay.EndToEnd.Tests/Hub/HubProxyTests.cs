using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Hub;

/// <summary>
/// The hub behind a site's egress proxy: enrollment and the agent's WebSocket go through the proxy
/// that HTTP_PROXY/HTTPS_PROXY name, as the feed client's requests do, and NO_PROXY keeps a host
/// off it (here the feed).
/// </summary>
public sealed class HubProxyTests
{
    [Fact]
    public void EnrollmentAndTheAgentsConnectionGoThroughTheProxyAndNoProxyKeepsTheFeedDirect()
    {
        using var fleet = new HubFleet();
        using var proxy = new ConnectProxy();
        // The hub by name (localhost), the feed by address (127.0.0.1, in NO_PROXY): only the hub's traffic may reach the proxy.
        var hubUrl = $"http://localhost:{fleet.Hub.Port}/";
        var environment = new Dictionary<string, string?>
        {
            ["HTTP_PROXY"] = proxy.Url, ["http_proxy"] = proxy.Url,
            ["HTTPS_PROXY"] = proxy.Url, ["https_proxy"] = proxy.Url,
            ["NO_PROXY"] = "127.0.0.1", ["no_proxy"] = "127.0.0.1",
            ["ALL_PROXY"] = null, ["all_proxy"] = null,
        };
        var install = fleet.InstallWith(environment, hubUrl, "proxied", """
            [program:idle]
            command = sleep 100000
            """, fleet.Hub.EnrollToken());
        Assert.True(install.ExitCode == 0, install + fleet.ReadLogs("proxied"));
        var hubId = fleet.HubSettings("proxied").GetProperty("hostId").GetString()!;
        fleet.Hub.WaitForHosts(fleet.AdminToken, hosts => hosts.Any(h => h.GetProperty("id").GetString() == hubId && HubProcess.Connected(h)), TimeSpan.FromSeconds(60),
            "showing the proxied host connected");
        var seen = proxy.Requests;
        var all = string.Join("\n", seen);
        Assert.Contains($"POST http://localhost:{fleet.Hub.Port}/agent/v1/enroll HTTP/1.1", seen);
        Assert.Contains($"CONNECT localhost:{fleet.Hub.Port} HTTP/1.1", seen);
        var feedPort = new Uri(fleet.FeedUrl).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.DoesNotContain(":" + feedPort, all, StringComparison.Ordinal);
        Assert.Equal(hubUrl, fleet.HubSettings("proxied").GetProperty("url").GetString());
    }
}
