using System.Text.Json;
using System.Text.RegularExpressions;
using Belay.EndToEnd.Tests.Release;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>The agent follows the feed by itself; the keeper tries new versions and rolls back bad ones.</summary>
public sealed partial class UpdateTests : IDisposable
{
    private static readonly TimeSpan Switch = TimeSpan.FromSeconds(30);
    private readonly InstalledHost _host = new();

    public UpdateTests()
    {
        _host.PublishAgent("1.0.0");
        var install = _host.Install();
        Assert.True(install.ExitCode == 0, install + _host.ReadLog());
    }

    public void Dispose() => _host.Dispose();

    private int Starts(string version) => StartLine().Matches(_host.ReadLog()).Count(m => m.Groups[1].Value == version);

    [Fact]
    public void APublishedVersionIsTakenUpByTheAgentWithNoManualStep()
    {
        _host.PublishAgent("2.0.0");
        var status = _host.WaitFor(s => InstalledHost.On(s, "2.0.0"), Switch, "on 2.0.0");
        Assert.Equal("1.0.0", status.GetProperty("previous").GetString());
        Assert.Contains("trial, try 1 of 3", _host.ReadLog(), StringComparison.Ordinal);
        Assert.Contains("committed 2.0.0", _host.ReadLog(), StringComparison.Ordinal);
    }

    [Fact]
    public void AReleaseThatCrashesAtStartIsRolledBackMarkedBadAndNeverTriedAgain()
    {
        _host.PublishAgent("2.0.0");
        _host.WaitFor(s => InstalledHost.On(s, "2.0.0"), Switch, "on 2.0.0");
        _host.PublishScript("3.0.0", "echo 'crashing on purpose' >&2; exit 1");

        var status = _host.WaitFor(s => InstalledHost.Bad(s).Contains("3.0.0") && InstalledHost.On(s, "2.0.0"), Switch, "rolled back from 3.0.0");
        Assert.Equal(["3.0.0"], InstalledHost.Bad(status));
        Assert.Equal(3, Starts("3.0.0"));

        Thread.Sleep(TimeSpan.FromSeconds(4)); // several polls: 3.0.0 is still the newest in the feed
        Assert.Equal(3, Starts("3.0.0"));
        Assert.True(InstalledHost.On(_host.Status(), "2.0.0"));

        // An uninstall that keeps the state, then a reinstall: 3.0.0 is still known bad.
        var uninstall = InstalledHost.Belay("uninstall", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(uninstall.ExitCode == 0, uninstall.ToString());
        var reinstall = _host.Install();
        Assert.True(reinstall.ExitCode == 0, reinstall + _host.ReadLog());
        var after = _host.Status();
        Assert.True(InstalledHost.On(after, "2.0.0"), after.ToString());
        Assert.Equal(["3.0.0"], InstalledHost.Bad(after));
    }

    [Fact]
    public void AReleaseThatNeverReportsReadyIsRolledBackAfterTheDeadline()
    {
        _host.PublishAgent("2.0.0");
        _host.WaitFor(s => InstalledHost.On(s, "2.0.0"), Switch, "on 2.0.0");
        _host.PublishScript("4.0.0", "exec sleep 1000");

        // Three tries of a 4 s deadline each.
        var status = _host.WaitFor(s => InstalledHost.Bad(s).Contains("4.0.0") && InstalledHost.On(s, "2.0.0"), TimeSpan.FromSeconds(45), "rolled back from 4.0.0");
        Assert.Equal(["4.0.0"], InstalledHost.Bad(status));
        Assert.Contains("not ready", _host.ReadLog(), StringComparison.Ordinal);
        var sleepers = ExternalTool.Run("pgrep", ["-f", "sleep 1000"]).StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.DoesNotContain(sleepers, pid => File.Exists($"/proc/{pid}/environ") && File.ReadAllText($"/proc/{pid}/environ").Contains(_host.Prefix, StringComparison.Ordinal));
    }

    [Fact]
    public void AKilledAgentIsRestartedByTheKeeper()
    {
        var before = _host.Status().GetProperty("agent").GetProperty("pid").GetInt32();
        ExternalTool.Run("kill", ["-9", before.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        var after = _host.WaitFor(s => s.GetProperty("agent").GetProperty("pid").ValueKind == System.Text.Json.JsonValueKind.Number
            && s.GetProperty("agent").GetProperty("pid").GetInt32() != before && InstalledHost.On(s, "1.0.0"), Switch, "restarted");
        Assert.Equal("1.0.0", InstalledHost.Version(after));
        Assert.Contains("exited", _host.ReadLog(), StringComparison.Ordinal);
    }

    [Fact]
    public void AnAgentTheKeeperStartedAfterItsFirstStaysUp()
    {
        // The keeper starts every agent after its first from its event loop, which resumes on thread-pool workers;
        // the agent's PR_SET_PDEATHSIG watches the thread that forked it, and an idle worker retires after 20 s.
        // Before keeper/Keeper/SpawnThread.cs the switched-to agent got SIGUSR2 then, handed over and exited, again and again.
        _host.PublishAgent("2.0.0");
        var on = _host.WaitFor(s => InstalledHost.On(s, "2.0.0") && s.GetProperty("agent").GetProperty("ready").GetBoolean(), Switch, "on 2.0.0 and ready");
        var pid = on.GetProperty("agent").GetProperty("pid").GetInt32();
        Thread.Sleep(TimeSpan.FromSeconds(50));
        var later = _host.Status();
        Assert.True(later.GetProperty("agent").GetProperty("pid").ValueKind == JsonValueKind.Number && later.GetProperty("agent").GetProperty("pid").GetInt32() == pid,
            $"the agent on 2.0.0 (pid {pid}) did not stay up: {later}\n{_host.ReadLog()}");
        Assert.Equal(1, Starts("2.0.0"));
    }

    [Fact]
    public void AKeeperKilledDuringAnUpdateComesBackOnTheOldOrTheNewVersionNeverNeither()
    {
        var keeper = _host.Status().GetProperty("keeper").GetProperty("pid").GetInt32();
        _host.PublishAgent("2.0.0");
        // Kill the keeper as soon as the switch has begun (or, failing that, whenever we get there).
        var deadline = DateTime.UtcNow + Switch;
        while (DateTime.UtcNow < deadline && !_host.ReadLog().Contains("switching from 1.0.0 to 2.0.0", StringComparison.Ordinal))
        {
            Thread.Sleep(20);
        }
        ExternalTool.Run("kill", ["-9", keeper.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Thread.Sleep(500);

        var state = _host.Status();
        Assert.Equal(System.Text.Json.JsonValueKind.Null, state.GetProperty("keeper").ValueKind);
        var current = state.GetProperty("current").GetString();
        Assert.Contains(current, new[] { "1.0.0", "2.0.0" });
        Assert.True(File.Exists(Path.Combine(_host.Prefix, "versions", current!, "belay-agent")));

        // Start it again as install would: the host settles on 1.0.0 or 2.0.0, with a running agent.
        var again = _host.Install();
        Assert.True(again.ExitCode == 0, again + _host.ReadLog());
        var settled = _host.WaitFor(s => s.GetProperty("agent").GetProperty("ready").GetBoolean() && InstalledHost.Trial(s) is null, Switch, "settled");
        Assert.Contains(InstalledHost.Version(settled), new[] { "1.0.0", "2.0.0" });
        _host.WaitFor(s => InstalledHost.On(s, "2.0.0"), Switch, "on 2.0.0 in the end");
    }

    [Fact]
    public void RollbackGoesBackToThePreviousVersionAndMarksTheCurrentOneBad()
    {
        _host.PublishAgent("2.0.0");
        _host.WaitFor(s => InstalledHost.On(s, "2.0.0"), Switch, "on 2.0.0");
        var rollback = InstalledHost.Belay("rollback", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(rollback.ExitCode == 0, rollback + _host.ReadLog());
        Assert.Contains("rolled back to 1.0.0", rollback.StdOut, StringComparison.Ordinal);
        var status = _host.WaitFor(s => InstalledHost.On(s, "1.0.0"), Switch, "back on 1.0.0");
        Assert.Equal(["2.0.0"], InstalledHost.Bad(status));
    }

    [Fact]
    public void UpdateCheckSaysWhatIsAvailableByItsExitCodeAndAsJson()
    {
        var upToDate = InstalledHost.Belay("update", "--check", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(upToDate.ExitCode == 0, upToDate.ToString());
        Assert.Contains("up to date: 1.0.0", upToDate.StdOut, StringComparison.Ordinal);
        using (var doc = JsonDocument.Parse(InstalledHost.Belay("update", "--check", "--json", "--prefix", _host.Prefix, "--scope", "user").StdOut))
        {
            Assert.False(doc.RootElement.GetProperty("updateAvailable").GetBoolean());
            Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("available").ValueKind);
            Assert.Equal("1.0.0", doc.RootElement.GetProperty("current").GetString());
        }

        // 2.0.0 at 0 %: the agent does not take it, and update --check does not offer it; at 100 % it does (exit 100).
        _host.PublishAgent("2.0.0", rollout: 0);
        Assert.Equal(0, InstalledHost.Belay("update", "--check", "--prefix", _host.Prefix, "--scope", "user").ExitCode);
        Assert.Equal(0, ReleaseWorkspace.Release("rollout", "2.0.0", "--percent", "100", "--feed", _host.Workspace.Feed, "--key", _host.Workspace.ReleaseKey).ExitCode);
        var available = InstalledHost.Belay("update", "--check", "--json", "--prefix", _host.Prefix, "--scope", "user");
        if (available.ExitCode == 0)
        {
            // The agent (polling every second) may have taken 2.0.0 already: then it is up to date on 2.0.0.
            _host.WaitFor(s => InstalledHost.On(s, "2.0.0"), Switch, "on 2.0.0");
            return;
        }
        Assert.True(available.ExitCode == 100, available.ToString());
        using var json = JsonDocument.Parse(available.StdOut);
        Assert.True(json.RootElement.GetProperty("updateAvailable").GetBoolean());
        Assert.Equal("2.0.0", json.RootElement.GetProperty("available").GetString());
    }

    [Fact]
    public void AYankedReleaseIsNotTakenAndAHostOnItStaysUntilTheNextOne()
    {
        // Yanked before any host took it: nobody takes it.
        _host.PublishAgent("2.0.0", rollout: 0);
        var yank = ReleaseWorkspace.Release("yank", "2.0.0", "--feed", _host.Workspace.Feed, "--key", _host.Workspace.ReleaseKey);
        Assert.True(yank.ExitCode == 0, yank.ToString());
        var sequence = ReleaseWorkspace.Release("list", "--feed", _host.Workspace.Feed, "--json");
        using (var doc = JsonDocument.Parse(sequence.StdOut))
        {
            var seq = doc.RootElement[0].GetProperty("sequence").GetInt64();
            _host.WaitFor(s => s.GetProperty("sequence").GetInt64() == seq, Switch, $"at sequence {seq}");
        }
        Assert.True(InstalledHost.On(_host.Status(), "1.0.0"));
        var check = InstalledHost.Belay("update", "--check", "--prefix", _host.Prefix, "--scope", "user");
        Assert.True(check.ExitCode == 0, check.ToString());

        // A release the host runs, then yanked: the host is not moved off it...
        _host.PublishAgent("2.1.0");
        _host.WaitFor(s => InstalledHost.On(s, "2.1.0"), Switch, "on 2.1.0");
        Assert.Equal(0, ReleaseWorkspace.Release("yank", "2.1.0", "--feed", _host.Workspace.Feed, "--key", _host.Workspace.ReleaseKey).ExitCode);
        Thread.Sleep(TimeSpan.FromSeconds(3)); // three polls
        Assert.True(InstalledHost.On(_host.Status(), "2.1.0"));
        Assert.DoesNotContain("2.1.0", InstalledHost.Bad(_host.Status()));

        // ...and takes the next release as usual.
        _host.PublishAgent("2.2.0");
        _host.WaitFor(s => InstalledHost.On(s, "2.2.0"), Switch, "on 2.2.0");
    }

    [GeneratedRegex(@"started agent (\S+) \(pid")]
    private static partial Regex StartLine();
}
