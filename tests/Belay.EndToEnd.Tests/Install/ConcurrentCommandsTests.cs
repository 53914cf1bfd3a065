using System.Diagnostics;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>
/// Two installs into one fresh prefix, or two updates, at the same moment: one does the work, the
/// other waits its turn or says `another belay install/update is running (pid N)` and exits 1; no
/// stack trace, and the first is unharmed.
/// </summary>
public sealed class ConcurrentCommandsTests : IDisposable
{
    private readonly InstalledHost _host = new();

    public void Dispose() => _host.Dispose();

    [Fact]
    public void TwoInstallsIntoOneFreshPrefixLeaveOneWorkingInstallation()
    {
        _host.PublishAgent("1.0.0");
        var results = Together(() => _host.Install(), () => _host.Install());
        AssertOneWonAndTheOtherWasToldWhy(results);
        // One of them installed; the other was refused, or came after it and found nothing to do.
        var all = string.Join("\n", results.Select(r => r.ToString()));
        Assert.True(results.Count(r => r.StdOut.Contains("installed version 1.0.0 for", StringComparison.Ordinal)) == 1, all);
        Assert.True(InstalledHost.On(_host.Status(), "1.0.0"));
    }

    [Fact]
    public void TwoUpdatesAtOnceLeaveOneSwitchAndNoTrace()
    {
        _host.PublishAgent("1.0.0");
        // The agent polls once an hour here, so that the two updates race each other rather than it.
        var install = InstalledHost.Belay("install", "--feed", _host.FeedUrl, "--scope", "user", "--prefix", _host.Prefix, "--root-key", _host.Workspace.RootPub,
            "--service-manager", "none", "--poll-interval", "1h", "--trial-deadline", InstalledHost.TrialDeadline, "--wait", "30s");
        Assert.True(install.ExitCode == 0, install.ToString());
        _host.PublishAgent("1.1.0");
        ToolResult Update() => InstalledHost.Belay("update", "--prefix", _host.Prefix, "--scope", "user", "--wait", "60s");
        var results = Together(Update, Update);
        AssertOneWonAndTheOtherWasToldWhy(results);
        Assert.True(InstalledHost.On(_host.Status(), "1.1.0"));
        Assert.Contains(results, r => r.StdOut.Contains("now on 1.1.0", StringComparison.Ordinal));
    }

    private static ToolResult[] Together(params Func<ToolResult>[] commands)
    {
        using var start = new Barrier(commands.Length);
        var tasks = commands.Select(c => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            return c();
        }, TaskCreationOptions.LongRunning)).ToArray();
        Task.WaitAll(tasks);
        return [.. tasks.Select(t => t.Result)];
    }

    private static void AssertOneWonAndTheOtherWasToldWhy(ToolResult[] results)
    {
        var all = string.Join("\n", results.Select(r => r.ToString()));
        Assert.True(results.Any(r => r.ExitCode == 0), all);
        foreach (var r in results)
        {
            Assert.DoesNotContain("   at ", r.StdErr, StringComparison.Ordinal);
            Assert.DoesNotContain("internal error", r.StdErr, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", r.StdErr, StringComparison.Ordinal);
            if (r.ExitCode != 0)
            {
                Assert.True(r.ExitCode == 1, all);
                Assert.Matches(@"another belay install/update is running \(pid \d+\)", r.StdErr);
            }
        }
    }
}
