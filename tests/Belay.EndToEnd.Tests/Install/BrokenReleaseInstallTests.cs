using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>
/// A fresh install from a channel whose newest release is broken fails soon and says which version
/// failed and how, suggests --version, shows no raw keeper JSON, and leaves nothing running or
/// installed; the suggested install then works.
/// </summary>
public sealed class BrokenReleaseInstallTests : IDisposable
{
    private readonly InstalledHost _host = new();

    public void Dispose() => _host.Dispose();

    private ToolResult Install(params string[] extra) => InstalledHost.Belay([
        "install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix, "--root-key", _host.Workspace.RootPub,
        "--service-manager", "none", "--poll-interval", InstalledHost.PollInterval, "--wait", "45s", .. extra]);

    [Fact]
    public void AFreshInstallOfACrashingReleaseSaysHowItFailedSuggestsAVersionAndLeavesNothing()
    {
        _host.PublishAgent("1.0.0");
        _host.PublishScript("1.1.0", "echo 'broken build' >&2\nexit 1");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var result = Install();
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("version 1.1.0 does not run on this host: its agent exited with code 1 three times in a row", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("--version 1.0.0", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("nothing of it runs or stays installed", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("broken build", result.StdErr, StringComparison.Ordinal); // the agent's own words, from keeper.log
        Assert.DoesNotContain("agentReady", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("{\"", result.StdErr, StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(40), $"took {watch.Elapsed}: it waited out --wait instead of seeing the crashes");
        Assert.NotEqual(0, ExternalTool.Run("pgrep", ["-f", _host.Prefix]).ExitCode);
        Assert.False(Directory.Exists(_host.Prefix) && Directory.EnumerateFileSystemEntries(_host.Prefix).Any(),
            $"left in {_host.Prefix}: {string.Join(", ", Directory.Exists(_host.Prefix) ? Directory.EnumerateFileSystemEntries(_host.Prefix) : [])}");

        var suggested = Install("--version", "1.0.0");
        Assert.True(suggested.ExitCode == 0, suggested.ToString());
        Assert.True(InstalledHost.On(_host.Status(), "1.0.0"));
    }

    [Fact]
    public void AFreshInstallOfAHangingReleaseStopsAtTheWaitAndLeavesNothing()
    {
        _host.PublishAgent("1.0.0");
        _host.PublishScript("1.1.0", "exec sleep 1000");
        var result = InstalledHost.Belay("install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix, "--root-key", _host.Workspace.RootPub,
            "--service-manager", "none", "--wait", "5s");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("version 1.1.0 did not report ready within 5 s", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("--version 1.0.0", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("{\"", result.StdErr, StringComparison.Ordinal);
        Assert.NotEqual(0, ExternalTool.Run("pgrep", ["-f", _host.Prefix]).ExitCode);
    }
}
