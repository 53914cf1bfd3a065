using System.Globalization;
using Belay.TestSupport;
using OpenQA.Selenium;

[assembly: AssemblyFixture(typeof(PostgresServer))]

namespace Belay.EndToEnd.Tests.Hub;

/// <summary>
/// The hub on PostgreSQL, end to end with the shipped NativeAOT belay-hub, a PostgreSQL the tests
/// start, nginx in front of two hub nodes (the reference deployment of docs/hub.md), a real agent
/// and a real headless Chromium.
/// </summary>
public sealed class HubClusterTests(PostgresServer postgres)
{
    /// <summary>docs/hub.md's reference deployment: nginx in front of the nodes, WebSocket and SSE passed through.</summary>
    public const string ProxyDirectives = """
        map $http_upgrade $connection_upgrade {
            default upgrade;
            ''      close;
        }
        """;

    public const string LocationDirectives = """
        location / {
            proxy_pass http://belay_hub;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;          # the agents' WebSocket
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 1h;                           # agents and live logs stay connected
            proxy_send_timeout 1h;
            proxy_buffering off;                             # live logs (Server-Sent Events) as they come
        }
        """;

    private static string Upstream(params int[] ports) =>
        "upstream belay_hub {\n" + string.Concat(ports.Select(p => $"    server 127.0.0.1:{p.ToString(CultureInfo.InvariantCulture)} max_fails=1 fail_timeout=5s;\n")) + "}\n";

    [Fact]
    public void MigrateBringsAnEmptyDatabaseUpAndServeRefusesOneItDoesNotMatchInOneLine()
    {
        var database = postgres.Require().CreateDatabase("cli");
        using var data = new TempDir("belay-hub-");
        string[] serve = ["serve", "--database", database, "--data", data.Path, "--listen", "127.0.0.1:0"];

        var empty = ExternalTool.Run(BelayBinaries.Hub, serve, timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(1, empty.ExitCode);
        Assert.Equal($"belay-hub: the hub database {database} has no belay-hub schema yet: run 'belay-hub migrate --database URL' once (from any one node) and start again",
            empty.StdErr.Trim());

        var migrate = ExternalTool.Run(BelayBinaries.Hub, ["migrate", "--database", database]);
        Assert.True(migrate.ExitCode == 0, migrate.ToString());
        Assert.Matches(@"applied schema step\(s\) 1, 2; now at 2$", migrate.StdOut.Trim());
        var again = ExternalTool.Run(BelayBinaries.Hub, ["migrate", "--database", database]);
        Assert.Equal($"{database}: already at schema step 2", again.StdOut.Trim());

        Assert.Equal(0, postgres.Psql(database, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (3, 'from a newer hub', 'x')").ExitCode);
        var newer = ExternalTool.Run(BelayBinaries.Hub, serve, timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(1, newer.ExitCode);
        Assert.Single(newer.StdErr.Trim().Split('\n'));
        Assert.Contains("has schema step(s) 3 that this belay-hub does not know (it knows up to 2): it was written by a newer belay-hub", newer.StdErr, StringComparison.Ordinal);
        Assert.Equal(1, ExternalTool.Run(BelayBinaries.Hub, ["migrate", "--database", database]).ExitCode);

        var bad = ExternalTool.Run(BelayBinaries.Hub, ["serve", "--database", "mysql://hub@db/fleet", "--data", data.Path]);
        Assert.Equal(2, bad.ExitCode);
    }

    /// <summary>
    /// An agent on node A (through nginx), a browser on node B tailing its program, a poke through B;
    /// node A is killed: the agent reconnects through nginx to B and the browser's live log goes on
    /// from the offset it had reached, with no end and no restart.
    /// </summary>
    [Fact]
    public async Task AnAgentOnOneNodeIsTailedAndPokedThroughTheOtherAndItsTailFollowsItWhenItsNodeDies()
    {
        var database = postgres.Require().CreateDatabase("cluster");
        Assert.Equal(0, ExternalTool.Run(BelayBinaries.Hub, ["migrate", "--database", database]).ExitCode);
        using var fleet = new HubFleet("--database", database);
        var nodeA = fleet.Hub;
        using var nodeB = new HubProcess("--database", database);
        nodeB.Stop(); // down while the agent enrolls, so that nginx sends it to A; B comes back on the same port
        using var nginx = NginxServer.StartHttp(port => ProxyDirectives + "\n" + Upstream(nodeA.Port, nodeB.Port)
            + $"server {{\n    listen 127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)};\n" + LocationDirectives + "}\n");
        var install = fleet.InstallWith(null, nginx.BaseUri.AbsoluteUri, "web-01", """
            [program:api]
            command = sh -c 'i=0; while :; do i=$((i+1)); echo "request $i"; sleep 0.2; done'
            """, nodeA.EnrollToken());
        Assert.True(install.ExitCode == 0, install + fleet.ReadLogs("web-01"));
        var hostId = fleet.HubSettings("web-01").GetProperty("hostId").GetString()!;
        fleet.WaitUntil(() => nodeA.Output.Contains($"host {hostId} (", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the agent connected to node A", "web-01");
        nodeB.Restart();

        // Node B knows the host is connected (to A), and a poke through B reaches it.
        nodeB.WaitForHosts(fleet.AdminToken, hosts => hosts.Any(h => h.GetProperty("id").GetString() == hostId && HubProcess.Connected(h)), TimeSpan.FromSeconds(30),
            "showing the host connected, on node B");
        using (var http = nodeB.Client(fleet.AdminToken))
        {
            using var poke = await http.PostAsync($"api/v1/hosts/{hostId}/poke", null, TestContext.Current.CancellationToken);
            Assert.True(poke.IsSuccessStatusCode, await poke.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }
        fleet.WaitUntil(() => fleet.ReadLogs("web-01").Contains("hub: poke: checking the feed now", StringComparison.Ordinal), TimeSpan.FromSeconds(30),
            "the poke through node B reaching the agent on node A", "web-01");

        // A browser on node B follows the program's log; so does an SSE reader, which sees the offsets.
        using var browser = new Browser();
        browser.LogIn(nodeB.BaseUri, "admin", HubFleet.AdminPassword);
        browser.Go(nodeB.BaseUri, $"hosts/{hostId}/logs/api?stream=stdout");
        browser.Until(d => d.FindElement(By.Id("l-status")).Text == "live", TimeSpan.FromSeconds(30), "the live status through node B");
        // The nodes share one data-protection key (the CSRF tokens of one are good on the other), made once.
        Assert.Equal("1", postgres.Psql(database, "SELECT count(*) FROM protection_keys").StdOut.Trim());
        using var sse = new SseClient(nodeB.BaseUri, fleet.AdminToken, $"api/v1/hosts/{hostId}/logs/api?stream=stdout&lines=5");
        sse.WaitFor(events => events.Count(e => e.Type == "data") >= 5, TimeSpan.FromSeconds(30), "lines through node B");
        var before = LastRequest(browser);

        nodeA.Kill();
        fleet.WaitUntil(() => nodeB.Output.Contains($"host {hostId} (", StringComparison.Ordinal), TimeSpan.FromSeconds(90),
            "the agent reconnected, through nginx, to node B", "web-01");
        var moved = sse.Events.Count;
        sse.WaitFor(events => events.Skip(moved).Count(e => e.Type == "data") >= 5, TimeSpan.FromSeconds(60), "lines again after node A died");
        browser.Until(_ => LastRequest(browser) > before + 5, TimeSpan.FromSeconds(60), "new lines in the browser after node A died");

        // One stream, no end, no restart: every event's offset starts where the one before ended.
        Assert.False(sse.Ended, string.Join("\n", sse.Events.Select(e => $"{e.Type} {e.Data}")));
        long next = -1;
        foreach (var e in sse.Events.Where(e => e.Type is "data" or "skip"))
        {
            var offset = e.Json.GetProperty("o").GetInt64();
            Assert.True(next < 0 || offset == next, $"offset {offset} after {next}: {string.Join("\n", sse.Events.Select(x => $"{x.Type} {x.Id} {x.Data}"))}");
            next = long.Parse(e.Id!, CultureInfo.InvariantCulture);
        }
        Assert.Contains("going on from offset", nodeB.Output, StringComparison.Ordinal);
        Assert.Empty(browser.FindAll(".marker.end"));
        Assert.Equal("live", browser.Find("#l-status").Text);
        browser.Screenshot("hub-cluster-log");
    }

    /// <summary>The newest "request N" the browser's live view shows.</summary>
    private static int LastRequest(Browser browser)
    {
        var lines = browser.FindAll("#log .line").Select(l => l.Text).Where(t => t.StartsWith("request ", StringComparison.Ordinal)).ToList();
        return lines.Count == 0 ? 0 : lines.Max(t => int.TryParse(t["request ".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0);
    }

    [Fact]
    public void TheReferenceDeploymentInTheDocsIsTheOneTested()
    {
        var doc = File.ReadAllText(Path.Combine(BelayBinaries.RepoRoot, "docs", "hub.md"));
        Assert.Contains(ProxyDirectives, doc, StringComparison.Ordinal);
        Assert.Contains(LocationDirectives.Replace("\n", "\n    ", StringComparison.Ordinal), doc, StringComparison.Ordinal);
    }
}
