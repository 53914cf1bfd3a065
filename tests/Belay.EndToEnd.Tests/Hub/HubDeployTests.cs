using System.Diagnostics;
using System.Text.Json;
using Belay.EndToEnd.Tests.Deploy;
using Belay.TestSupport;
using OpenQA.Selenium;

namespace Belay.EndToEnd.Tests.Hub;

/// <summary>
/// Deployments as the hub sees them, all real: the shipped hub, a host installed by the shipped
/// belay with an enrollment token for group <c>web</c> (so the host joins that group), and the
/// demo app deployed to it by the shipped belay-release. The agent's <c>state</c> carries the
/// host's apps as <c>belay status --json</c> has them, sent as a deploy moves on; the hub keeps
/// the deploy history from each app's <c>lastDeploy</c> and shows it on the host's page.
/// </summary>
public sealed class HubDeployTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

    [Fact]
    public void AnEnrolledHostsDeploysShowOnTheHubConvergedDeployingRolledBackAndFailedWithStepAndExitCodeAndNoSecret()
    {
        using var hub = new HubProcess();
        var admin = hub.Operator("admin", "admin", HubFleet.AdminPassword);
        using var host = new DeployHost(withIdentity: true, group: "web", "--hub", hub.Url, "--enroll-token", hub.EnrollToken("web"));
        Assert.Contains("enrolled with the hub", host.Installed.StdOut, StringComparison.Ordinal);
        string hubId;
        using (var settings = JsonDocument.Parse(File.ReadAllText(Path.Combine(host.Prefix, "etc", "hub.json"))))
        {
            hubId = settings.RootElement.GetProperty("hostId").GetString()!;
        }
        // Enrolled with a token for group web and no --group: the host runs the apps of group web, and says so to the hub.
        Assert.Equal("web", host.Host.Status().GetProperty("group").GetString());
        var detail = Until(hub, admin, hubId, d => d.GetProperty("host").GetProperty("connected").GetBoolean()
            && d.GetProperty("state").ValueKind == JsonValueKind.Object && d.GetProperty("state").TryGetProperty("apps", out _), "connected, with its apps", host);
        Assert.Equal("web", detail.GetProperty("host").GetProperty("group").GetString());
        Assert.Equal("web", detail.GetProperty("state").GetProperty("group").GetString());
        Assert.Equal(0, detail.GetProperty("state").GetProperty("apps").GetArrayLength());

        // 1.0.0, with a secret that its post_install prints: converged on the hub, its deploy listed, the secret nowhere.
        var secret = "pw-" + Guid.NewGuid().ToString("N");
        var secretFile = Path.Combine(host.Workspace.Root, "db-password");
        File.WriteAllText(secretFile, secret + "\n");
        host.Package("1.0.0", dir =>
        {
            Script(dir, "leak.sh", "echo \"the password is $DB_PASSWORD\"");
            Edit(dir, "post_install = hooks/record.sh", "post_install = hooks/leak.sh");
        });
        host.Deploy("1.0.0", "--secret", $"DB_PASSWORD=@{secretFile}", "--recipient", host.Recipient!);
        detail = Until(hub, admin, hubId, d => HubApp(d) is { } a && Str(a, "state") == "converged" && Str(a, "running") == "1.0.0", "hello converged on 1.0.0", host);
        Assert.Equal("1.0.0", Str(HubApp(detail)!.Value, "desired"));
        var reported = StateApp(detail);
        Assert.Equal(("1.0.0", "ok"), (Str(reported.GetProperty("lastDeploy"), "version"), Str(reported.GetProperty("lastDeploy"), "result")));
        Assert.Contains("the password is ***", Str(reported.GetProperty("lastDeploy"), "output"), StringComparison.Ordinal);
        // The same object as belay status --json has for the app: the same keys, its lastDeploy's too.
        var status = host.Host.Status();
        Assert.Equal("web", status.GetProperty("group").GetString());
        var mine = status.GetProperty("apps").EnumerateArray().Single(a => Str(a, "name") == DeployHost.App);
        Assert.Equal(Keys(mine), Keys(reported));
        Assert.Equal(Keys(mine.GetProperty("lastDeploy")), Keys(reported.GetProperty("lastDeploy")));
        Assert.Equal(Values(mine.GetProperty("lastDeploy")), Values(reported.GetProperty("lastDeploy")));
        var deploys = UntilDeploys(hub, admin, d => d.Any(x => Str(x, "version") == "1.0.0"), "the deploy of 1.0.0", host);
        var first = Assert.Single(deploys);
        Assert.Equal((hubId, "hello", "ok"), (Str(first, "hostId"), Str(first, "app"), Str(first, "result")));

        // A deploy in progress shows as deploying at its step (its pre_install waits here until released).
        host.Hold("pre_install", "1.1.0");
        host.Package("1.1.0", dir =>
        {
            Edit(dir, "[app]\n", "[app]\nenvironment = HEALTH=fail\n");
            Edit(dir, "deadline = 10s", "deadline = 3s");
        });
        host.Deploy("1.1.0");
        Until(hub, admin, hubId, d => HubApp(d) is { } a && Str(a, "state") == "deploying" && Str(a, "step") == "pre_install" && Str(a, "desired") == "1.1.0",
            "hello deploying 1.1.0 at pre_install", host);
        host.Release("pre_install", "1.1.0");

        // 1.1.0 never gets healthy: rolled back to 1.0.0, and the hub has it with its step.
        detail = Until(hub, admin, hubId, d => HubApp(d) is { } a && Str(a, "state") == "failed" && LastVersion(d) == "1.1.0", "hello failed on 1.1.0", host);
        Assert.Equal("1.0.0", Str(HubApp(detail)!.Value, "running"));
        reported = StateApp(detail);
        Assert.Equal(["1.1.0"], reported.GetProperty("bad").EnumerateArray().Select(b => b.GetString()));
        Assert.Equal(("rolled-back", "health"), (Str(reported.GetProperty("lastDeploy"), "result"), Str(reported.GetProperty("lastDeploy"), "step")));
        Assert.Contains("app hello: failed", detail.GetProperty("host").GetProperty("problems").EnumerateArray().Select(p => p.GetString()));

        // 1.2.0's post_install exits 4: failed before the stop (1.0.0 runs on), with the exit code.
        host.Package("1.2.0", dir =>
        {
            Script(dir, "fail.sh", "echo 'migration failed: table locked'\nexit 4");
            Edit(dir, "post_install = hooks/record.sh", "post_install = hooks/fail.sh");
        });
        host.Deploy("1.2.0");
        UntilDeploys(hub, admin, d => d.Any(x => Str(x, "version") == "1.2.0"), "the deploy of 1.2.0", host);
        deploys = UntilDeploys(hub, admin, d => d.Length == 3, "three deploys", host);
        Assert.Equal(
            [("1.2.0", "failed", "post_install", (int?)4), ("1.1.0", "rolled-back", "health", null), ("1.0.0", "ok", Str(first, "step"), Int(first, "exitCode"))],
            deploys.Select(d => (Str(d, "version"), Str(d, "result"), Str(d, "step"), Int(d, "exitCode"))));
        detail = hub.Get(admin, $"api/v1/hosts/{hubId}");
        Assert.Equal(3, detail.GetProperty("deploys").GetArrayLength());
        Assert.Equal(("1.0.0", "failed"), (Str(HubApp(detail)!.Value, "running"), Str(HubApp(detail)!.Value, "state")));
        Assert.Equal((200, "hello from hello 1.0.0: -\n"), host.Get("/"));

        // The host's page shows that history, newest first, and the app.
        using (var browser = new Browser())
        {
            browser.LogIn(hub.BaseUri, "admin", HubFleet.AdminPassword);
            browser.Go(hub.BaseUri, $"hosts/{hubId}");
            var rows = browser.Until(d => d.FindElement(By.Id("deploys-section")).Displayed && d.FindElements(By.CssSelector("#deploys tbody tr")).Count == 3
                ? d.FindElements(By.CssSelector("#deploys tbody tr")) : null, TimeSpan.FromSeconds(30), "three deploys on the host's page")!;
            Assert.Equal(["1.2.0 failed post_install 4", "1.1.0 rolled-back health"],
                rows.Take(2).Select(r => string.Join(' ', r.FindElements(By.TagName("td")).Skip(2).Select(c => c.Text).Where(t => t.Length > 0))));
            Assert.Contains("1.0.0 ok", rows[2].Text, StringComparison.Ordinal);
            var app = browser.Find("#apps tbody tr").Text;
            Assert.Contains("hello", app, StringComparison.Ordinal);
            Assert.Contains("failed", app, StringComparison.Ordinal);
            browser.Go(hub.BaseUri, "");
            browser.Until(d => d.FindElement(By.Id("deploys")).Displayed && d.FindElements(By.CssSelector("#deploy-table tbody tr")).Count == 3,
                TimeSpan.FromSeconds(30), "the recent deploys under the fleet");
        }

        // The secret is in no answer of the hub, not in its log, not in its database.
        var everything = string.Join("\n", hub.Output, hub.Get(admin, $"api/v1/hosts/{hubId}").ToString(), hub.Get(admin, "api/v1/hosts").ToString(),
            hub.Get(admin, "api/v1/deploys").ToString());
        Assert.DoesNotContain(secret, everything, StringComparison.Ordinal);
        foreach (var file in Directory.EnumerateFiles(hub.Data))
        {
            Assert.DoesNotContain(secret, System.Text.Encoding.UTF8.GetString(File.ReadAllBytes(file)), StringComparison.Ordinal);
        }
    }

    private static JsonElement? HubApp(JsonElement detail) =>
        detail.GetProperty("host").GetProperty("apps").EnumerateArray().Where(a => Str(a, "name") == DeployHost.App).Select(a => (JsonElement?)a).FirstOrDefault();

    private static JsonElement StateApp(JsonElement detail) =>
        detail.GetProperty("state").GetProperty("apps").EnumerateArray().Single(a => Str(a, "name") == DeployHost.App);

    private static string? LastVersion(JsonElement detail) =>
        detail.GetProperty("state").GetProperty("apps").EnumerateArray().Where(a => Str(a, "name") == DeployHost.App)
            .Select(a => a.GetProperty("lastDeploy") is { ValueKind: JsonValueKind.Object } d ? Str(d, "version") : null).FirstOrDefault();

    private static string?[] Values(JsonElement e) =>
        [.. e.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText())];

    private static string[] Keys(JsonElement e) => [.. e.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal)];

    private static string? Str(JsonElement e, string key) => e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static int? Int(JsonElement e, string key) => e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;

    private static JsonElement Until(HubProcess hub, string admin, string hubId, Func<JsonElement, bool> done, string what, DeployHost host)
    {
        var watch = Stopwatch.StartNew();
        JsonElement detail = default;
        while (watch.Elapsed < Wait)
        {
            detail = hub.Get(admin, $"api/v1/hosts/{hubId}");
            if (done(detail))
            {
                return detail;
            }
            Thread.Sleep(100);
        }
        Assert.Fail($"the hub did not show {what} within {Wait.TotalSeconds:0} s. Last:\n{detail}\nhub log:\n{hub.Output}\n{host.Diagnostics()}");
        return detail;
    }

    private static JsonElement[] UntilDeploys(HubProcess hub, string admin, Func<JsonElement[], bool> done, string what, DeployHost host)
    {
        var watch = Stopwatch.StartNew();
        JsonElement[] deploys = [];
        while (watch.Elapsed < Wait)
        {
            deploys = [.. hub.Get(admin, "api/v1/deploys").EnumerateArray()];
            if (done(deploys))
            {
                return deploys;
            }
            Thread.Sleep(200);
        }
        Assert.Fail($"/api/v1/deploys did not list {what} within {Wait.TotalSeconds:0} s: [{string.Join(", ", deploys)}]\nhub log:\n{hub.Output}\n{host.Diagnostics()}");
        return deploys;
    }

    private static void Script(string releaseDir, string name, string body)
    {
        var path = Path.Combine(releaseDir, "hooks", name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
    }

    private static void Edit(string releaseDir, string from, string to)
    {
        var conf = Path.Combine(releaseDir, "belay-app.conf");
        var text = File.ReadAllText(conf);
        Assert.Contains(from, text, StringComparison.Ordinal);
        File.WriteAllText(conf, text.Replace(from, to, StringComparison.Ordinal));
    }
}
