using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Belay.EndToEnd.Tests.Install;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Hub;

/// <summary>
/// What the hub connection survives, and what it must never cost the host: a revocation (cut at
/// once, refused after), a hub restart (every agent back, none lost), and a hub that accepts the
/// TCP connection and never answers (polling goes on on time).
/// </summary>
public sealed class HubResilienceTests
{
    private const string Quiet = """
        [program:idle]
        command = sleep 100000
        """;

    [Fact]
    public void RevokingAHostClosesItsConnectionWithinTwoSecondsAndItsReconnectsGet401()
    {
        using var fleet = new HubFleet();
        var id = fleet.Enroll("r1", Quiet);
        var revoke = fleet.Hub.Admin("hosts", "revoke", id);
        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        fleet.Hub.WaitForHosts(fleet.AdminToken, hosts => hosts.Any(h => h.GetProperty("id").GetString() == id && !HubProcess.Connected(h)),
            TimeSpan.FromSeconds(20), "showing the revoked host disconnected");
        // Within two seconds of the revocation, by the clocks of the two: the revocation's audit entry and the hub's log line.
        var revokedAt = fleet.Hub.Get(fleet.AdminToken, "api/v1/audit?action=host.revoke").EnumerateArray().First().GetProperty("at").GetDateTimeOffset();
        var line = fleet.Hub.Output.Split('\n').First(l => l.Contains($"host {id}", StringComparison.Ordinal) && l.Contains("disconnected", StringComparison.Ordinal));
        var droppedAt = DateTimeOffset.Parse(line[..line.IndexOf(' ', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
        Assert.True(droppedAt - revokedAt < TimeSpan.FromSeconds(2), $"revoked at {revokedAt:O}, dropped at {droppedAt:O}: {line}");
        Assert.Contains("this host was revoked", line, StringComparison.Ordinal);
        // The agent tries again and is refused with 401, then waits the whole backoff cap.
        fleet.WaitUntil(() => fleet.ReadLogs("r1").Contains("refused this host's credential (HTTP 401)", StringComparison.Ordinal), TimeSpan.FromSeconds(30),
            "the agent seeing 401", "r1");
        // The hub's own line about it: its output is read as it comes, so it may follow the agent's by a moment.
        fleet.WaitUntil(() => fleet.Hub.Output.Contains("refused an agent connection", StringComparison.Ordinal), TimeSpan.FromSeconds(10),
            "the hub logging the refused connection", "r1");
        Assert.False(fleet.Hub.Get(fleet.AdminToken, $"api/v1/hosts/{id}").GetProperty("host").GetProperty("connected").GetBoolean());
        // The host itself goes on: its agent polls and supervises as before.
        var status = fleet.Belay("r1", "status", "--json");
        Assert.Contains("\"ready\": true", status.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void AfterAHubRestartEveryAgentIsBackAndNoneIsLost()
    {
        using var fleet = new HubFleet();
        var ids = new[] { fleet.Enroll("a", Quiet), fleet.Enroll("b", Quiet) };
        fleet.Hub.Restart();
        var watch = Stopwatch.StartNew();
        var hosts = fleet.Hub.WaitForHosts(fleet.AdminToken, hs => ids.All(id => hs.Any(h => h.GetProperty("id").GetString() == id && HubProcess.Connected(h))),
            TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(30), "showing both hosts back");
        Assert.Equal(2, hosts.GetArrayLength());
        Console.WriteLine($"both agents back {watch.Elapsed.TotalSeconds:0.0} s after the hub restarted");
        // What the hub knew survived: groups, enrollment, audit.
        Assert.All(hosts.EnumerateArray(), h => Assert.Equal("default", h.GetProperty("group").GetString()));
        Assert.Equal(2, fleet.Hub.Get(fleet.AdminToken, "api/v1/audit?action=host.enroll").GetArrayLength());
    }

    [Fact]
    public void AHubThatAcceptsTheConnectionAndNeverAnswersDoesNotDelayPolling()
    {
        // A listener that accepts and then says nothing: the agent's WebSocket handshake hangs.
        using var blackHole = new TcpListener(IPAddress.Loopback, 0);
        blackHole.Start();
        var accepted = new List<TcpClient>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var client = await blackHole.AcceptTcpClientAsync(stop.Token);
                lock (accepted)
                {
                    accepted.Add(client);
                }
            }
        }, stop.Token);
        using var host = new InstalledHost();
        host.PublishAgent("1.0.0");
        var install = host.Install();
        Assert.True(install.ExitCode == 0, install.ToString());
        try
        {
            // Enrolled "by hand" with a hub that will never answer (the agent picks hub.json up by itself).
            var port = ((IPEndPoint)blackHole.LocalEndpoint).Port;
            var settings = $$"""{"schema":1,"url":"http://127.0.0.1:{{port}}/","hostId":"blackhole","group":"default","credential":"bhc_not-a-real-one"}""";
            var path = Path.Combine(host.Prefix, "etc", "hub.json");
            File.WriteAllText(path, settings);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < TimeSpan.FromSeconds(20))
            {
                lock (accepted)
                {
                    if (accepted.Count > 0)
                    {
                        break;
                    }
                }
                Thread.Sleep(100);
            }
            lock (accepted)
            {
                Assert.True(accepted.Count > 0, "the agent never connected to the black hole\n" + host.ReadLog());
            }
            // While the handshake hangs, the feed is checked every second (the poll interval) as before: nginx saw every check.
            var from = DateTimeOffset.UtcNow;
            Thread.Sleep(TimeSpan.FromSeconds(12));
            var checks = host.Nginx.AccessLog.Split('\n')
                .Where(l => l.Contains("GET /channels/stable.json", StringComparison.Ordinal))
                .Select(l => DateTimeOffset.ParseExact(l[(l.IndexOf('[', StringComparison.Ordinal) + 1)..l.IndexOf(']', StringComparison.Ordinal)], "dd/MMM/yyyy:HH:mm:ss zzz",
                    CultureInfo.InvariantCulture))
                .Where(t => t >= from.AddSeconds(-1))
                .Order()
                .ToList();
            var gaps = checks.Zip(checks.Skip(1), (a, b) => b - a).ToList();
            Assert.True(checks.Count >= 6, $"only {checks.Count} feed checks in 12 s with a hub that never answers\n{host.ReadLog()}");
            Assert.True(gaps.Max() <= TimeSpan.FromSeconds(4), $"a gap of {gaps.Max().TotalSeconds:0} s between checks: {string.Join(", ", checks.Select(c => c.ToString("HH:mm:ss", CultureInfo.InvariantCulture)))}");
            Assert.Equal("1.0.0", InstalledHost.Version(host.Status()));
        }
        finally
        {
            stop.Cancel();
            blackHole.Stop();
            lock (accepted)
            {
                foreach (var client in accepted)
                {
                    client.Dispose();
                }
            }
        }
    }
}
