using System.Text;
using Belay.Core.Deploy;

namespace Belay.Core.Tests.Deploy;

public sealed class GroupDocumentTests
{
    private static readonly string Sha = new('a', 64);

    /// <summary>The example of DESIGN.md, "Deployments", with a few fields a newer publisher might add.</summary>
    private static string Example(string apps = "") => $$"""
        { "schema": 1, "kind": "belay.group", "group": "web-prod", "note": "unknown fields are ignored",
          "sequence": 318, "expires": "2027-01-05T00:00:00Z",
          "apps": { "shop": {
              "version": "2.7.1", "state": "running", "color": "blue",
              "artifacts": { "linux-x64": { "path": "apps/shop/2.7.1/shop-2.7.1-linux-x64.tar.gz", "sha256": "{{Sha}}", "size": 18234112 },
                             "any": { "path": "apps/shop/2.7.1/shop-2.7.1-any.tar.gz", "sha256": "{{Sha}}", "size": 10 } },
              "env": { "PORT": "8080",
                       "DB_PASSWORD": { "age": "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n", "hint": "ignored" } },
              "user": "shop", "rollout": { "percent": 40 } }{{apps}} } }
        """;

    private static GroupDocument Parse(string json) => GroupDocument.Parse(Encoding.UTF8.GetBytes(json), "groups/web-prod.json");

    private static string Refusal(string json) => Assert.Throws<BelayException>(() => Parse(json)).Message;

    [Fact]
    public void TheDesignExampleParsesAndUnknownFieldsAreIgnored()
    {
        var doc = Parse(Example());
        Assert.Equal("web-prod", doc.Group);
        Assert.Equal(318, doc.Sequence);
        Assert.Equal(new DateTimeOffset(2027, 1, 5, 0, 0, 0, TimeSpan.Zero), doc.Expires);
        var shop = doc.Apps["shop"];
        Assert.Equal("2.7.1", shop.Version);
        Assert.Equal(AppDesiredState.Running, shop.DesiredState);
        Assert.Equal("shop", shop.User);
        Assert.Equal(40, shop.Rollout.Percent);
        Assert.Equal(18234112, shop.Artifacts["linux-x64"].Size);
        Assert.Equal("8080", shop.Env["PORT"].Value);
        Assert.False(shop.Env["PORT"].IsSecret);
        Assert.True(shop.Env["DB_PASSWORD"].IsSecret);
        Assert.StartsWith("-----BEGIN AGE", shop.Env["DB_PASSWORD"].Age, StringComparison.Ordinal);
        Assert.DoesNotContain("AGE", shop.Env["DB_PASSWORD"].ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void WhatIsSerializedParsesBackTheSame()
    {
        var doc = Parse(Example());
        var again = GroupDocument.Parse(doc.Serialize(), "again");
        Assert.Equal(doc.Serialize(), again.Serialize());
        var text = Encoding.UTF8.GetString(doc.Serialize());
        Assert.Contains("\"DB_PASSWORD\": {", text, StringComparison.Ordinal);
        Assert.EndsWith("}\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"schema\": 1", "\"schema\": 2", "schema: 2 is not supported")]
    [InlineData("\"kind\": \"belay.group\"", "\"kind\": \"belay.channel\"", "kind: 'belay.channel' is not 'belay.group'")]
    [InlineData("\"group\": \"web-prod\"", "\"group\": \"Web Prod\"", "group: 'Web Prod' is not a group name (1 to 64 lower-case")]
    [InlineData("\"sequence\": 318", "\"sequence\": 0", "sequence: 0 must be at least 1")]
    [InlineData("\"expires\": \"2027-01-05T00:00:00Z\",", "", "expires: missing")]
    [InlineData("\"state\": \"running\"", "\"state\": \"runing\"", "apps.shop.state: 'runing' is not one of running, stopped, absent")]
    [InlineData("\"version\": \"2.7.1\",", "", "apps.shop.version: missing")]
    [InlineData("\"user\": \"shop\"", "\"user\": \"root;rm\"", "apps.shop.user: 'root;rm' is not a user name")]
    [InlineData("\"percent\": 40", "\"percent\": 101", "apps.shop.rollout.percent: 101 is not between 0 and 100")]
    [InlineData("\"linux-x64\": {", "\"linux_x64\": {", "apps.shop.artifacts.linux_x64: 'linux_x64' is not a runtime identifier")]
    [InlineData("apps/shop/2.7.1/shop-2.7.1-linux-x64.tar.gz", "apps/shop/2.7.0/shop-2.7.0-linux-x64.tar.gz", "apps.shop.artifacts.linux-x64.path: 'apps/shop/2.7.0/shop-2.7.0-linux-x64.tar.gz' is not apps/shop/2.7.1/shop-2.7.1-linux-x64.tar.gz")]
    [InlineData("apps/shop/2.7.1/shop-2.7.1-linux-x64.tar.gz", "../../etc/passwd", "apps.shop.artifacts.linux-x64.path: '../../etc/passwd' is not")]
    [InlineData("\"size\": 18234112", "\"size\": -1", "apps.shop.artifacts.linux-x64.size: -1 must be a positive number of bytes")]
    [InlineData("\"size\": 18234112", "\"size\": 18234112, \"compact\": {\"path\": \"apps/shop/2.7.1/x.tar.br\", \"sha256\": \"\", \"size\": 1}", "apps.shop.artifacts.linux-x64.compact: an app's archive has no compact form")]
    [InlineData("\"PORT\": \"8080\"", "\"BELAY_APP\": \"x\"", "apps.shop.env.BELAY_APP: 'BELAY_APP' is not a variable name")]
    [InlineData("\"PORT\": \"8080\"", "\"1PORT\": \"x\"", "apps.shop.env.1PORT: '1PORT' is not a variable name")]
    [InlineData("-----BEGIN AGE ENCRYPTED FILE-----\\nYWdl", "c2VjcmV0", "apps.shop.env.DB_PASSWORD.age: not an armored age file")]
    [InlineData("\"shop\": {", "\"Shop\": {", "apps.Shop: 'Shop' is not an app name")]
    public void EachFieldIsCheckedAndTheErrorNamesFileFieldAndWhatIsAllowed(string from, string to, string expected)
    {
        var json = Example().Replace(from, to, StringComparison.Ordinal);
        Assert.NotEqual(Example(), json);
        var message = Refusal(json);
        Assert.StartsWith("groups/web-prod.json: ", message, StringComparison.Ordinal);
        Assert.Contains(expected, message, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryProblemIsNamedInOneMessage()
    {
        var message = Refusal(Example().Replace("\"sequence\": 318", "\"sequence\": -4", StringComparison.Ordinal).Replace("\"percent\": 40", "\"percent\": -1", StringComparison.Ordinal));
        Assert.Contains("sequence: -4", message, StringComparison.Ordinal);
        Assert.Contains("apps.shop.rollout.percent: -1", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"PORT\": \"8080\"", "\"PORT\": 8080", "apps.shop.env.PORT: not a valid group document (an env value must be a string or {\"age\": …}, not number (quote numbers: \"8080\")")]
    [InlineData("\"sequence\": 318", "\"sequence\": \"318\"", "sequence: not a valid group document")]
    [InlineData("\"expires\": \"2027-01-05T00:00:00Z\"", "\"expires\": \"next year\"", "expires: not a valid group document")]
    [InlineData("{ \"age\": \"-----BEGIN", "{ \"ages\": \"-----BEGIN", "must have an \"age\" member")]
    public void AWrongTypeNamesTheField(string from, string to, string expected)
    {
        var message = Refusal(Example().Replace(from, to, StringComparison.Ordinal));
        Assert.Contains(expected, message, StringComparison.Ordinal);
        Assert.DoesNotContain("LineNumber", message, StringComparison.Ordinal);
    }

    [Fact]
    public void ADuplicateMemberIsRefusedRatherThanOneOfThemSilentlyWinning()
    {
        // Two parsers that pick different duplicates would see two different desired states under one signature.
        var json = Example(apps: """, "shop": { "version": "6.6.6", "state": "running", "artifacts": {} }""");
        var message = Refusal(json);
        Assert.Contains("apps.shop", message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnAbsentAppNeedsNoVersionNorArchive()
    {
        var doc = Parse("""{ "schema": 1, "kind": "belay.group", "group": "web", "sequence": 2, "expires": "2027-01-05T00:00:00Z", "apps": { "old": { "state": "absent" } } }""");
        Assert.Equal(AppDesiredState.Absent, doc.Apps["old"].DesiredState);
        Assert.Null(doc.Apps["old"].Version);
        Assert.Empty(doc.Apps["old"].Artifacts);
    }

    [Fact]
    public void ARunningAppNeedsAnArchive()
    {
        var message = Refusal("""{ "schema": 1, "kind": "belay.group", "group": "web", "sequence": 2, "expires": "2027-01-05T00:00:00Z", "apps": { "a": { "version": "1", "artifacts": {} } } }""");
        Assert.Contains("apps.a.artifacts: empty", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("{ \"schema\": 1, ")]
    [InlineData("")]
    public void WhatIsNotAGroupDocumentAtAllIsATrustFailure(string json)
    {
        var e = Assert.Throws<BelayException>(() => Parse(json));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.StartsWith("groups/web-prod.json", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("default", true)]
    [InlineData("web-prod", true)]
    [InlineData("eu.web_2", true)]
    [InlineData("Web", false)]
    [InlineData("-web", false)]
    [InlineData(".hidden", false)]
    [InlineData("a/b", false)]
    [InlineData("web\n", false)]
    [InlineData("", false)]
    public void GroupNamesAreSafeInPathsAndOfOneCase(string name, bool valid) =>
        Assert.Equal(valid, DeployNames.IsValidGroup(name));

    [Theory]
    [InlineData("2.7.1", true)]
    [InlineData("2026.12.01-3f2a9c", true)]
    [InlineData("1.0.0+build.5", true)]
    [InlineData("..", false)]
    [InlineData(".1", false)]
    [InlineData("1/2", false)]
    [InlineData("1 2", false)]
    public void VersionsAreAnyTokenSafeInAPath(string version, bool valid) =>
        Assert.Equal(valid, DeployNames.IsValidVersion(version));

    [Fact]
    public void NamesHaveTheirLengthLimits()
    {
        Assert.True(DeployNames.IsValidGroup(new string('a', 64)));
        Assert.False(DeployNames.IsValidGroup(new string('a', 65)));
        Assert.True(DeployNames.IsValidVersion(new string('1', 128)));
        Assert.False(DeployNames.IsValidVersion(new string('1', 129)));
        Assert.False(DeployNames.IsValidApp(null));
        Assert.False(DeployNames.IsValidVersion("1.0\u00e9"));
    }

    [Theory]
    [InlineData("PORT", true)]
    [InlineData("_x9", true)]
    [InlineData("9X", false)]
    [InlineData("A-B", false)]
    [InlineData("BELAY_APP", false)]
    [InlineData("belay_app", false)]
    [InlineData("", false)]
    public void EnvironmentNames(string name, bool valid) =>
        Assert.Equal(valid, DeployNames.IsValidEnvName(name));

    [Theory]
    [InlineData("www-data", true)]
    [InlineData("_svc", true)]
    [InlineData("app.1", true)]
    [InlineData("1app", false)]
    [InlineData("Root", false)]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false)]
    public void UserNames(string name, bool valid) =>
        Assert.Equal(valid, DeployNames.IsValidUser(name));
}
