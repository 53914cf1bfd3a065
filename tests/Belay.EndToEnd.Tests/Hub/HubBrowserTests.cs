using System.Globalization;
using Belay.TestSupport;
using OpenQA.Selenium;
using OpenQA.Selenium.Chromium;

namespace Belay.EndToEnd.Tests.Hub;

/// <summary>
/// The hub's page in a real headless Chromium, against the shipped hub and agent: log in, the
/// fleet, the live log (a new line within 2 s; a drop marker when the browser is throttled), log
/// out, and a viewer kept out of the admin pages. The fleet page and the live log are saved as
/// screenshots (artifacts/screenshots/; docs/hub.md shows copies).
/// </summary>
public sealed class HubBrowserTests : IClassFixture<HubBrowserTests.Fixture>
{
    private const string ViewerPassword = "viewer password 123";
    private readonly Fixture _f;

    public HubBrowserTests(Fixture fixture)
    {
        _f = fixture;
    }

    public sealed class Fixture : IDisposable
    {
        public Fixture()
        {
            Fleet = new HubFleet();
            Assert.StartsWith("bht_", Fleet.Hub.Operator("vera", "viewer", ViewerPassword), StringComparison.Ordinal);
            HostId = Fleet.Enroll("shop-web-01", """
                [program:api]
                command = sh -c 'i=0; while :; do i=$((i+1)); echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) INFO request $i served in $((i % 37 + 3)) ms at $(date +%s%N)"; sleep 0.25; done'

                [program:flood]
                command = sh -c 'while :; do if [ -f $SCRATCH/go ]; then rm -f $SCRATCH/go; seq -f "flood line %07.0f, padded so that it is long enough to matter" 1 300000; fi; sleep 0.2; done'

                [program:worker]
                command = sh -c 'while :; do echo "working"; sleep 5; done'
                """);
            // A second host, disconnected, so that the fleet shows both kinds.
            Fleet.Enroll("db-02", "[program:postgres]\ncommand = sleep 100000\n");
            Assert.Equal(0, Fleet.Belay("db-02", "uninstall").ExitCode);
        }

        public HubFleet Fleet { get; }
        public string HostId { get; }

        public void Dispose() => Fleet.Dispose();
    }

    private Uri Hub => _f.Fleet.Hub.BaseUri;

    [Fact]
    public void AnAdminLogsInAndTheFleetTableListsTheConnectedHost()
    {
        using var browser = new Browser();
        browser.Go(Hub, "");
        Assert.Contains("/login", browser.Driver.Url, StringComparison.Ordinal);
        browser.LogIn(Hub, "admin", HubFleet.AdminPassword);
        var row = browser.Until(d => d.FindElement(By.CssSelector($"#fleet tr[data-host='{_f.HostId}']")), TimeSpan.FromSeconds(20), "the host's row");
        browser.Until(_ => row.Text.Contains("connected", StringComparison.Ordinal) && row.Text.Contains("api", StringComparison.Ordinal), TimeSpan.FromSeconds(20),
            "the host connected with its programs");
        Assert.Contains(Environment.MachineName, row.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("disconnected", row.Text, StringComparison.Ordinal);
        Assert.Contains("1.0.0", row.Text, StringComparison.Ordinal);
        Assert.Equal("2", browser.Find("#s-hosts").Text);
        Assert.Equal("1", browser.Find("#s-connected").Text);
        // Filters: by state.
        Choose(browser, "f-state", "disconnected");
        browser.Until(d => d.FindElements(By.CssSelector($"#fleet tr[data-host='{_f.HostId}']")).Count == 0, TimeSpan.FromSeconds(10), "the connected host filtered out");
        Assert.Single(browser.FindAll("#fleet tbody tr"));
        Choose(browser, "f-state", "");
        browser.Until(d => d.FindElements(By.CssSelector("#fleet tbody tr")).Count == 2, TimeSpan.FromSeconds(10), "both hosts again");
        browser.Screenshot("hub-fleet");
    }

    [Fact]
    public void AProgramsNewLineAppearsInTheLiveViewWithinTwoSeconds()
    {
        using var browser = new Browser();
        browser.LogIn(Hub, "admin", HubFleet.AdminPassword);
        browser.Go(Hub, $"hosts/{_f.HostId}/logs/api?stream=stdout");
        browser.Until(d => d.FindElement(By.Id("l-status")).Text == "live", TimeSpan.FromSeconds(20), "the live status");
        // The page's own clock marks when each line enters the DOM; the program stamped when it wrote it (ns, at the end of the line).
        // The lines already there are the tail (old by design): only lines added from now on count.
        browser.Driver.ExecuteScript("""
            window.__lines = [];
            new MutationObserver(records => {
              const now = Date.now();
              for (const r of records) for (const n of r.addedNodes) if (n.classList && n.classList.contains('line')) window.__lines.push([now, n]);
            }).observe(document.getElementById('log'), { childList: true });
            """);
        var latencies = new List<TimeSpan>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (latencies.Count < 10 && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(500);
            latencies.Clear();
            var seen = (System.Collections.ObjectModel.ReadOnlyCollection<object>?)browser.Driver.ExecuteScript(
                "return window.__lines.filter(([t, n]) => /\\d{19}$/.test(n.textContent)).map(([t, n]) => t + ' ' + n.textContent);");
            foreach (var entry in (seen ?? []).Cast<string>())
            {
                var shown = long.Parse(entry[..entry.IndexOf(' ', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
                var written = long.Parse(entry[(entry.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture) / 1_000_000;
                latencies.Add(TimeSpan.FromMilliseconds(shown - written));
            }
        }
        Assert.True(latencies.Count >= 10, $"only {latencies.Count} new lines in 20 s:\n{browser.Text()}");
        Assert.True(latencies.Max() < TimeSpan.FromSeconds(2), $"a line took {latencies.Max().TotalMilliseconds:0} ms to show: {string.Join(", ", latencies.Select(l => l.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)))}");
        Console.WriteLine($"write-to-browser latency over {latencies.Count} lines: max {latencies.Max().TotalMilliseconds:0} ms");
        browser.Screenshot("hub-log");
        // The view was audited.
        var audit = _f.Fleet.Hub.Get(_f.Fleet.AdminToken, "api/v1/audit?action=log.view");
        Assert.Contains(audit.EnumerateArray(), a => a.GetProperty("target").GetString() == "api stdout");
    }

    [Fact]
    public void WhenTheBrowserIsThrottledADropMarkerAppears()
    {
        using var browser = new Browser();
        browser.LogIn(Hub, "admin", HubFleet.AdminPassword);
        browser.Driver.NetworkConditions = new ChromiumNetworkConditions
        {
            Latency = TimeSpan.FromMilliseconds(20),
            DownloadThroughput = 20_000,
            UploadThroughput = 20_000,
        };
        browser.Go(Hub, $"hosts/{_f.HostId}/logs/flood?stream=stdout");
        browser.Until(d => d.FindElement(By.Id("l-status")).Text == "live", TimeSpan.FromSeconds(30), "the live status");
        File.WriteAllText(Path.Combine(_f.Fleet.Scratch("shop-web-01"), "go"), "");
        var marker = browser.Until(d => d.FindElement(By.CssSelector("#log .marker.skip")), TimeSpan.FromSeconds(90), "a drop marker");
        Assert.Contains("dropped here", marker.Text, StringComparison.Ordinal);
        Assert.Contains("dropped", browser.Find("#l-counts").Text, StringComparison.Ordinal);
    }

    [Fact]
    public void LoggingOutEndsTheSession()
    {
        using var browser = new Browser();
        browser.LogIn(Hub, "admin", HubFleet.AdminPassword);
        browser.Until(d => d.FindElement(By.Id("who")).Text == "admin", TimeSpan.FromSeconds(10), "the operator's name");
        var cookie = browser.Driver.Manage().Cookies.GetCookieNamed("belay_session");
        Assert.NotNull(cookie);
        Assert.True(cookie.IsHttpOnly);
        Assert.Equal("Strict", cookie.SameSite);
        browser.Find("#logout").Click();
        browser.Until(d => d.Url.Contains("/login", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the login page");
        browser.Go(Hub, "");
        browser.Until(d => d.Url.Contains("/login", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the login page again");
        // The old cookie is dead on the server too, not just forgotten by the browser.
        using var http = new HttpClient { BaseAddress = Hub };
        http.DefaultRequestHeaders.Add("Cookie", $"belay_session={cookie.Value}");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, Status(http, "api/v1/hosts"));
    }

    [Fact]
    public void AWrongPasswordIsRefusedAndAudited()
    {
        using var browser = new Browser();
        browser.Go(Hub, "login");
        browser.Find("#name").SendKeys("admin");
        browser.Find("#password").SendKeys("not the password at all");
        browser.Find("#login").Click();
        browser.Until(d => d.FindElement(By.Id("error")).Text.Contains("Wrong name or password", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "the error");
        Assert.Contains(_f.Fleet.Hub.Get(_f.Fleet.AdminToken, "api/v1/audit?action=login.failed").EnumerateArray(), a => a.GetProperty("actor").GetString() == "admin");
    }

    [Fact]
    public void AViewerCannotReachTheAdminPages()
    {
        using var browser = new Browser();
        browser.LogIn(Hub, "vera", ViewerPassword);
        browser.Until(d => d.FindElements(By.CssSelector("#fleet tbody tr")).Count > 0, TimeSpan.FromSeconds(20), "the fleet");
        Assert.False(browser.Find("a[data-nav='admin']").Displayed, "the admin link is shown to a viewer");
        Assert.False(browser.Find("a[data-nav='audit']").Displayed, "the audit link is shown to a viewer");
        foreach (var page in new[] { "admin", "audit" })
        {
            browser.Go(Hub, page);
            browser.Until(d => d.FindElement(By.Id("forbidden")).Displayed, TimeSpan.FromSeconds(10), "the not-allowed page");
            Assert.Contains("needs the admin role", browser.Text(), StringComparison.Ordinal);
        }
        // Nor the admin API, from the page's own session.
        var status = browser.Driver.ExecuteAsyncScript("""
            const done = arguments[arguments.length - 1];
            fetch('/api/v1/tokens', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': document.querySelector('meta[name=csrf]').content},
                body: JSON.stringify({group: 'x'})}).then(r => done(r.status));
            """);
        Assert.Equal(403L, status);
        // And the host page hides the admin actions.
        browser.Go(Hub, $"hosts/{_f.HostId}");
        browser.Until(d => d.FindElement(By.Id("h-status")).Text.Length > 0, TimeSpan.FromSeconds(10), "the host page");
        Assert.False(browser.Find("#revoke").Displayed);
    }

    [Fact]
    public async Task OnceAHostReportsDeploysTheFleetAndTheHostPageShowTheirHistory()
    {
        // A hub of its own (the fixture's fleet is counted by the other tests), and a stand-in agent that reports an app's deploys
        // in its state as DESIGN.md's Deployments have it (apps[].lastDeploy): the page's side alone, without deploying anything.
        // HubDeployTests has the real agent's deploys on the host's page.
        using var hub = new HubProcess();
        hub.Operator("admin", "admin", HubFleet.AdminPassword);
        using var agent = await FakeAgent.ConnectAsync(hub.BaseUri, hub.EnrollToken("shop"), "shop-app-01");
        using var browser = new Browser();
        browser.LogIn(hub.BaseUri, "admin", HubFleet.AdminPassword);
        browser.Until(d => d.FindElement(By.CssSelector($"#fleet tr[data-host='{agent.HostId}']")), TimeSpan.FromSeconds(20), "the host's row");
        Assert.False(browser.Find("#deploys").Displayed, "a deploy history before any deploy");
        await agent.SendStateAsync("""
            {"version":"1.0.0","apps":[{"name":"shop","state":"running","desired":"2.7.1","running":"2.7.1",
              "lastDeploy":{"at":"2026-12-06T10:00:00Z","version":"2.7.1","result":"ok","step":"commit","exitCode":0}}]}
            """.ReplaceLineEndings(""));
        // The fleet refreshes every 5 s; the deploy shows under it with its host, app, version and result.
        var deploys = browser.Until(d => d.FindElement(By.Id("deploys")).Displayed ? d.FindElement(By.CssSelector("#deploy-table tbody")) : null,
            TimeSpan.FromSeconds(30), "the recent deploys")!;
        Assert.Contains("shop-app-01", deploys.Text, StringComparison.Ordinal);
        Assert.Contains("2.7.1", deploys.Text, StringComparison.Ordinal);
        Assert.Contains("ok", deploys.Text, StringComparison.Ordinal);
        // A failed deploy of the next version: the host's page lists both, newest first.
        await Task.Delay(1100, TestContext.Current.CancellationToken); // states are taken at most once a second
        await agent.SendStateAsync("""
            {"version":"1.0.0","apps":[{"name":"shop","state":"running","desired":"2.8.0","running":"2.7.1",
              "lastDeploy":{"at":"2026-12-06T11:00:00Z","version":"2.8.0","result":"failed","step":"health","exitCode":3}}]}
            """.ReplaceLineEndings(""));
        browser.Go(hub.BaseUri, $"hosts/{agent.HostId}");
        var rows = browser.Until(d => d.FindElement(By.Id("deploys-section")).Displayed && d.FindElements(By.CssSelector("#deploys tbody tr")).Count == 2
            ? d.FindElements(By.CssSelector("#deploys tbody tr")) : null, TimeSpan.FromSeconds(30), "two deploys on the host's page")!;
        Assert.Contains("2.8.0", rows[0].Text, StringComparison.Ordinal);
        Assert.Contains("failed", rows[0].Text, StringComparison.Ordinal);
        Assert.Contains("health", rows[0].Text, StringComparison.Ordinal);
        Assert.Contains("2.7.1", rows[1].Text, StringComparison.Ordinal);
        Assert.Contains("shop", browser.Find("#apps").Text, StringComparison.Ordinal);
    }

    /// <summary>Picks an option of a select the way a user's click does (the change event fires).</summary>
    private static void Choose(Browser browser, string id, string value) => browser.Driver.ExecuteScript(
        "const s = document.getElementById(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change'));", id, value);

    private static System.Net.HttpStatusCode Status(HttpClient http, string path) => http.GetAsync(path).GetAwaiter().GetResult().StatusCode;
}
