using System.Text.RegularExpressions;
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
        var keeperPid = status.GetProperty("keeper").GetProperty("pid").GetInt32();
        Assert.True(keeperPid > 0);
        // `belay run` execs the installation's bin/belay-keeper: the keeper is that executable, same pid.
        var keeperExe = Path.Combine(_host.Prefix, "bin", "belay-keeper");
        Assert.Equal(keeperExe, new FileInfo($"/proc/{keeperPid}/exe").LinkTarget);
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(keeperExe));
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
    public void TheAgentPollsWithConditionalGetsThatNginxAnswersWith304()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        // Poll interval 1 s: a few polls, each a conditional GET of the manifest, and no
        // root.json fetch while the manifest is unchanged.
        _host.WaitFor(_ => Regex.Count(_host.Nginx.AccessLog, "GET /channels/stable.json HTTP/1.1\" 304 ") >= 3, TimeSpan.FromSeconds(20), "polling with 304s");
        var log = _host.Nginx.AccessLog;
        var rootFetches = Regex.Count(log, "GET /root.json HTTP");
        Assert.True(rootFetches <= 2, $"root.json fetched {rootFetches} times:\n{log}");
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
    public void ReinstallingWithOtherOptionsUpdatesTheConfigAndRestartsTheKeeper()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        var keeper = _host.Status().GetProperty("keeper").GetProperty("pid").GetInt32();
        var again = InstalledHost.Belay("install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix,
            "--root-key", _host.Workspace.RootPub, "--poll-interval", "2s", "--trial-deadline", InstalledHost.TrialDeadline, "--wait", "30s");
        Assert.True(again.ExitCode == 0, again + _host.ReadLog());
        Assert.Contains("updated", again.StdOut, StringComparison.Ordinal);
        Assert.Contains("\"pollInterval\": \"2s\"", File.ReadAllText(Path.Combine(_host.Prefix, "etc", "config.json")), StringComparison.Ordinal);
        var status = _host.WaitFor(s => InstalledHost.On(s, "1.0.0"), TimeSpan.FromSeconds(20), "running again");
        Assert.NotEqual(keeper, status.GetProperty("keeper").GetProperty("pid").GetInt32());
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
    public void TheDetachedKeepersLogIsRotatedPastTenMegabytesAndTheNextAgentWritesToTheNewFile()
    {
        _host.PublishAgent("1.0.0");
        Assert.Equal(0, _host.Install().ExitCode);
        var agent = _host.Status().GetProperty("agent").GetProperty("pid").GetInt32();
        // Ten megabytes of history, then an event the keeper logs (its agent dies).
        using (var log = new FileStream(_host.KeeperLog, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
        {
            var line = System.Text.Encoding.ASCII.GetBytes(new string('h', 99) + "\n");
            for (var i = 0; i < 10 * 1024 * 1024 / 100 + 1; i++)
            {
                log.Write(line);
            }
        }
        ExternalTool.Run("kill", ["-9", agent.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        _host.WaitFor(s => s.GetProperty("agent").GetProperty("pid").ValueKind == System.Text.Json.JsonValueKind.Number
            && s.GetProperty("agent").GetProperty("pid").GetInt32() != agent && InstalledHost.On(s, "1.0.0"), TimeSpan.FromSeconds(30), "a new agent");

        var rotated = _host.KeeperLog + ".1";
        Assert.True(File.Exists(rotated), $"no {rotated}");
        Assert.True(new FileInfo(rotated).Length > 10 * 1024 * 1024, $"{rotated}: {new FileInfo(rotated).Length} bytes");
        var current = _host.ReadLog();
        Assert.True(current.Length < 64 * 1024, $"keeper.log holds {current.Length} bytes after the rotation");
        Assert.DoesNotContain("hhhh", current, StringComparison.Ordinal);
        Assert.Contains("keeper started agent 1.0.0", current, StringComparison.Ordinal);
        Assert.Contains("agent INF", current, StringComparison.Ordinal); // the new agent inherited the new file
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(_host.KeeperLog));
    }

    [Fact]
    public void ASystemInstallWithoutRootExits5AndSuggestsSudoOrUserScope()
    {
        _host.PublishAgent("1.0.0");
        var args = new[] { BelayBinaries.Belay, "install", "--feed", _host.FeedUrl, "--scope", "system", "--root-key", _host.Workspace.RootPub };
        ToolResult result;
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
