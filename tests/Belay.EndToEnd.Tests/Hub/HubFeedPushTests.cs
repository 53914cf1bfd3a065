using Belay.EndToEnd.Tests.Install;
using Belay.EndToEnd.Tests.Release;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Hub;

/// <summary>
/// The hub as a host's feed, all shipped NativeAOT binaries: `belay-release push` uploads the
/// publisher's feed folder to `belay-hub serve --feed-dir … --feed-root-key …`, a host is installed
/// from the hub's /feed/, and the next version pushed reaches it by itself. A push the hub would not
/// let a host take (a replay of an older feed, a viewer's token) is refused with exit 3, and the
/// host keeps what it had.
/// </summary>
public sealed class HubFeedPushTests
{
    [Fact]
    public void AnAgentFollowingTheHubsFeedUpdatesToTheVersionPushedAndARefusedPushChangesNothing()
    {
        using var host = new InstalledHost();
        var hubFeed = Path.Combine(host.Workspace.Root, "hub-feed");
        using var hub = new HubProcess("--feed-dir", hubFeed, "--feed-root-key", host.Workspace.RootPub);
        var admin = hub.Operator("publisher", "admin");
        var viewer = hub.Operator("watcher", "viewer");
        var feed = host.Workspace.Feed;

        host.PublishAgent("1.0.0");
        var old = Path.Combine(host.Workspace.Root, "feed-1.0.0");
        CopyFolder(feed, old);
        var first = Push(hub, admin, feed);
        Assert.True(first.ExitCode == 0, first + "\nhub log:\n" + hub.Output);
        Assert.Contains("the hub serves generation 1", first.StdOut, StringComparison.Ordinal);
        Assert.Contains("ok    channels/stable.json", first.StdOut, StringComparison.Ordinal);

        var hubFeedUrl = hub.Url + "feed/";
        var install = host.Run("install", "--feed", hubFeedUrl, "--scope", "user", "--prefix", host.Prefix, "--root-key", host.Workspace.RootPub,
            "--service-manager", "none", "--poll-interval", InstalledHost.PollInterval, "--trial-deadline", InstalledHost.TrialDeadline, "--wait", "30s");
        Assert.True(install.ExitCode == 0, install + "\nhub log:\n" + hub.Output);
        host.WaitFor(s => InstalledHost.On(s, "1.0.0"), TimeSpan.FromSeconds(60), "on 1.0.0 from the hub's feed");

        host.PublishAgent("1.1.0");
        var second = Push(hub, admin, feed);
        Assert.True(second.ExitCode == 0, second + "\nhub log:\n" + hub.Output);
        Assert.Contains("the hub serves generation 2", second.StdOut, StringComparison.Ordinal);
        host.WaitFor(s => InstalledHost.On(s, "1.1.0"), TimeSpan.FromSeconds(90), "updated to 1.1.0 pushed to the hub");

        // The feed as it was at 1.0.0 again: a replay the host would refuse, so the hub refuses it.
        var replay = Push(hub, admin, old);
        Assert.True(replay.ExitCode == 3, replay.ToString());
        Assert.Contains("lower than", replay.StdOut + replay.StdErr, StringComparison.Ordinal);
        Assert.Contains("Nothing changed", replay.StdErr, StringComparison.Ordinal);
        var byViewer = Push(hub, viewer, feed);
        Assert.True(byViewer.ExitCode == 3, byViewer.ToString());
        Assert.Contains("not an admin", byViewer.StdErr, StringComparison.Ordinal);
        var noToken = Push(hub, "bht_not-a-token", feed);
        Assert.True(noToken.ExitCode == 3, noToken.ToString());

        Thread.Sleep(3000); // several polls of the hub's feed after the refusals
        var status = host.Status();
        Assert.True(InstalledHost.On(status, "1.1.0"), status.ToString());
        Assert.DoesNotContain(admin, hub.Output, StringComparison.Ordinal);
    }

    private static ToolResult Push(HubProcess hub, string token, string feed) =>
        ReleaseWorkspace.Release("push", "--hub", hub.Url, "--token", token, "--feed", feed);

    private static void CopyFolder(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
