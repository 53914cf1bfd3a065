using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>belay install, status and uninstall, with the shipped binaries and a feed on nginx.</summary>
public sealed class InstallTests : IDisposable
{
    private readonly InstalledHost _host = new();

    public void Dispose() => _host.Dispose();

    [Fact]
    public void InstallBringsUpAReadyAgentAndStatusShowsTheVersionAndHostFacts()
    {
        _host.PublishAgent("1.0.0");
        var install = _host.Install();
        Assert.True(install.ExitCode == 0, install + _host.ReadLog());
        Assert.Contains("running and ready", install.StdOut, StringComparison.Ordinal);

        var status = _host.Status();
        Assert.Equal("1.0.0", InstalledHost.Version(status));
        Assert.True(status.GetProperty("agent").GetProperty("ready").GetBoolean());
        Assert.True(status.GetProperty("keeper").GetProperty("pid").GetInt32() > 0);
        Assert.Equal("stable", status.GetProperty("channel").GetString());
        Assert.Equal("ok", status.GetProperty("lastCheck").GetProperty("result").GetString());
        var host = status.GetProperty("host");
        Assert.Equal(Environment.MachineName, host.GetProperty("hostname").GetString());
        Assert.Equal(32, host.GetProperty("id").GetString()!.Length);
        Assert.Contains("Linux", host.GetProperty("os").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(System.Text.Json.JsonValueKind.Array, host.GetProperty("macs").ValueKind);

        var human = InstalledHost.Belay("status", "--prefix", _host.Prefix, "--scope", "user");
        Assert.Contains("agent:            pid", human.StdOut, StringComparison.Ordinal);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_host.Prefix, "etc", "config.json")));
        Assert.Equal((UnixFileMode)0b111_000_000, File.GetUnixFileMode(Path.Combine(_host.Prefix, "var")));
    }

    [Fact]
    public void ReinstallingWithTheSameOptionsDoesNothingAndSaysSo()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        var keeper = _host.Status().GetProperty("keeper").GetProperty("pid").GetInt32();
        var again = _host.Install();
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("nothing to do", again.StdOut, StringComparison.Ordinal);
        Assert.Equal(keeper, _host.Status().GetProperty("keeper").GetProperty("pid").GetInt32());
    }

    [Fact]
    public void UninstallStopsEverythingAndPurgeRemovesEverything()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        var status = _host.Status();
        var keeper = status.GetProperty("keeper").GetProperty("pid").GetInt32();
        var agent = status.GetProperty("agent").GetProperty("pid").GetInt32();

        var uninstall = InstalledHost.Belay("uninstall", "--prefix", _host.Prefix, "--scope", "user", "--purge");
        Assert.True(uninstall.ExitCode == 0, uninstall.ToString());
        Assert.False(Directory.Exists(Path.Combine(_host.Prefix, "versions")));
        Assert.False(Directory.Exists(Path.Combine(_host.Prefix, "etc")));
        Assert.False(Directory.Exists(_host.Prefix));
        Assert.False(ExternalTool.IsRunning(keeper), "the keeper is still running");
        Assert.False(ExternalTool.IsRunning(agent), "the agent is still running");
    }

    [Fact]
    public void ASystemInstallWithoutRootExits5AndSuggestsSudoOrUserScope()
    {
        _host.PublishAgent("1.0.0");
        var args = new[] { BelayBinaries.Belay, "install", "--feed", _host.FeedUrl, "--scope", "system", "--root-key", _host.Workspace.RootPub };
        ProcessResult result;
        if (Environment.UserName == "root")
        {
            var setpriv = ExternalTool.Require("setpriv", "util-linux");
            result = ExternalTool.Run(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", .. args]);
        }
        else
        {
            result = ExternalTool.Run(args[0], args[1..]);
        }
        Assert.Equal(5, result.ExitCode);
        Assert.Contains("sudo", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("--scope user", result.StdErr, StringComparison.Ordinal);
    }
}
