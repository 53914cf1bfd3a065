using System.Text.Json;
using Belay.EndToEnd.Tests.Install;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Deploy;

/// <summary>
/// The host side of joining a group, with the shipped NativeAOT belay: belay install --group and
/// --group-identity, belay config show and set group, and config.json's group checked like the rest.
/// </summary>
public sealed class GroupInstallTests : IDisposable
{
    private readonly InstalledHost _host = new();

    public GroupInstallTests()
    {
        _host.PublishAgent("1.0.0");
    }

    public void Dispose() => _host.Dispose();

    private string ConfigFile => Path.Combine(_host.Prefix, "etc", "config.json");
    private string IdentityCopy => Path.Combine(_host.Prefix, "etc", "group-identity");

    private string AgeKeygen(string name = "group.key")
    {
        var path = Path.Combine(_host.Workspace.Root, name);
        var result = ExternalTool.Run(ExternalTool.Require("age-keygen", "age"), ["-o", path]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return path;
    }

    private static JsonElement Json(ToolResult result)
    {
        Assert.True(result.ExitCode == 0, result.ToString());
        using var doc = JsonDocument.Parse(result.StdOut);
        return doc.RootElement.Clone();
    }

    [Fact]
    public void InstallJoinsTheGroupAndKeepsAnOwnerOnlyCopyOfTheIdentity()
    {
        var identity = AgeKeygen();
        var recipient = File.ReadAllLines(identity).Single(l => l.StartsWith("# public key: ", StringComparison.Ordinal))["# public key: ".Length..];
        var install = _host.Install("--group", "web-prod", "--group-identity", identity, "--no-start");
        Assert.True(install.ExitCode == 0, install.ToString());
        Assert.Contains($"installed the group identity in {IdentityCopy}, readable by its owner only (recipient {recipient})", install.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("AGE-SECRET-KEY", install.StdOut + install.StdErr, StringComparison.Ordinal);

        Assert.Equal(File.ReadAllBytes(identity), File.ReadAllBytes(IdentityCopy));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(IdentityCopy));
        Assert.Equal("web-prod", Json(InstalledHost.Belay("config", "show", "--json", "--prefix", _host.Prefix, "--scope", "user")).GetProperty("group").GetString());
        var shown = Json(InstalledHost.Belay("config", "show", "--json", "--prefix", _host.Prefix, "--scope", "user"));
        Assert.Equal($"{IdentityCopy} (recipient {recipient})", shown.GetProperty("groupIdentity").GetString());
        Assert.Equal("web-prod", _host.Status().GetProperty("group").GetString());
        var text = InstalledHost.Belay("status", "--prefix", _host.Prefix, "--scope", "user");
        Assert.Contains("group:            web-prod", text.StdOut, StringComparison.Ordinal);

        // A re-install without --group keeps the group, and the identity stays.
        var again = _host.Install("--no-start");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal("web-prod", _host.Status().GetProperty("group").GetString());
        Assert.True(File.Exists(IdentityCopy));
    }

    [Fact]
    public void AFirstInstallWithoutAGroupJoinsDefault()
    {
        var install = _host.Install("--no-start");
        Assert.True(install.ExitCode == 0, install.ToString());
        Assert.Equal("default", _host.Status().GetProperty("group").GetString());
        Assert.False(File.Exists(IdentityCopy));
    }

    [Theory]
    [InlineData("not an identity\n", "is not an age identity file:", "line 1: an age identity is a line starting with AGE-SECRET-KEY-1")]
    [InlineData("# only a comment\n", "is not an age identity file:", "holds no age identity")]
    [InlineData("AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n", "is not an age identity file:", "is not a valid key")]
    public void AFileThatIsNotAnAgeIdentityIsRefusedBeforeAnythingIsInstalled(string content, string message, string detail)
    {
        var bad = Path.Combine(_host.Workspace.Root, "bad.key");
        File.WriteAllText(bad, content);
        var install = _host.Install("--group-identity", bad, "--no-start");
        Assert.Equal(2, install.ExitCode);
        Assert.Contains(message, install.StdErr, StringComparison.Ordinal);
        Assert.Contains(detail, install.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("QQQQQQQQ", install.StdErr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_host.Prefix), "a refused install left files behind");
    }

    [Fact]
    public void ABadGroupNameIsAUsageErrorEverywhereAndAHandEditedOneNamesTheField()
    {
        var install = _host.Install("--group", "Web Prod", "--no-start");
        Assert.Equal(2, install.ExitCode);
        Assert.Contains("--group 'Web Prod' is not a group name (1 to 64 lower-case letters", install.StdErr, StringComparison.Ordinal);

        Assert.Equal(0, _host.Install("--no-start").ExitCode);
        var set = InstalledHost.Belay("config", "set", "group", "-web", "--prefix", _host.Prefix, "--scope", "user");
        Assert.Equal(2, set.ExitCode);
        Assert.Contains("group '-web' is not a group name", set.StdErr, StringComparison.Ordinal);
        var unknown = InstalledHost.Belay("config", "set", "channel", "beta", "--prefix", _host.Prefix, "--scope", "user");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("'channel' cannot be set here; belay config set takes: group", unknown.StdErr, StringComparison.Ordinal);

        File.WriteAllText(ConfigFile, File.ReadAllText(ConfigFile).Replace("\"group\": \"default\"", "\"group\": \"../etc\"", StringComparison.Ordinal));
        var status = InstalledHost.Belay("status", "--prefix", _host.Prefix, "--scope", "user");
        Assert.Equal(1, status.ExitCode);
        Assert.Contains($"{ConfigFile}: field group: '../etc' is not a group name", status.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void ConfigSetGroupMovesARunningHostAndItsAgentComesBackReady()
    {
        var install = _host.Install();
        Assert.True(install.ExitCode == 0, install.ToString());
        var set = InstalledHost.Belay("config", "set", "group", "web-prod", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(set.ExitCode == 0, set.ToString() + _host.ReadLog());
        Assert.Contains("group: default -> web-prod", set.StdOut, StringComparison.Ordinal);
        Assert.Contains("restarted the keeper (none) so that the agent follows group web-prod", set.StdOut, StringComparison.Ordinal);
        var status = _host.WaitFor(s => s.GetProperty("agent").GetProperty("ready").GetBoolean(), TimeSpan.FromSeconds(60), "ready after the group change");
        Assert.Equal("web-prod", status.GetProperty("group").GetString());
        Assert.Contains("\"group\": \"web-prod\"", File.ReadAllText(ConfigFile), StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(ConfigFile));

        var same = InstalledHost.Belay("config", "set", "group", "web-prod", "--prefix", _host.Prefix, "--scope", "user");
        Assert.Contains("group is already web-prod; nothing to do", same.StdOut, StringComparison.Ordinal);
    }
}
