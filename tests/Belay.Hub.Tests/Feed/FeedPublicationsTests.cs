using System.Formats.Tar;
using Belay.Core.Feed;
using Belay.Core.Hub;
using Belay.TestSupport;

namespace Belay.Hub.Tests.Feed;

/// <summary>
/// A push to the hub's feed (hub/Feed): taken whole when a host would take it, refused with the
/// reason otherwise, and nothing of a refused push is ever served.
/// </summary>
public sealed class FeedPublicationsTests : IDisposable
{
    private readonly PushFeeds _feeds = new();

    private string Served(string file) => Path.Combine(_feeds.Served, file);

    private async Task AcceptedAsync(string feed, long generation)
    {
        var outcome = await _feeds.PushAsync(feed);
        Assert.True(outcome.Status == 200, PushFeeds.Describe(outcome));
        Assert.Equal(generation, outcome.Answer.Generation);
        Assert.Equal(generation, _feeds.Publications.CurrentGeneration);
    }

    /// <summary>Refused as a trust failure whose messages name <paramref name="reason"/>; the hub still serves <paramref name="generation"/>.</summary>
    private async Task RefusedAsync(byte[] bundle, string reason, long generation)
    {
        var before = Directory.Exists(_feeds.Served) ? Directory.GetFiles(_feeds.Served, "*", SearchOption.AllDirectories).Length : 0;
        var outcome = await _feeds.PushAsync(bundle);
        Assert.True(outcome.Status == 422 && outcome.Answer.Code == FeedPush.TrustCode, PushFeeds.Describe(outcome));
        Assert.Contains(reason, outcome.Answer.Error + "\n" + string.Join("\n", outcome.Answer.Report), StringComparison.Ordinal);
        Assert.Equal(generation, _feeds.Publications.CurrentGeneration);
        Assert.Equal(before, Directory.GetFiles(_feeds.Served, "*", SearchOption.AllDirectories).Length);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_feeds.Hosting.Generations, ".*"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_feeds.Hosting.Directory, ".incoming*"));
    }

    private Task RefusedAsync(string feed, string reason, long generation) => RefusedAsync(PushFeeds.Bundle(feed), reason, generation);

    [Fact]
    public async Task AFeedAHostWouldTakeIsServedWholeAndTheNextPushReplacesItInOneSwitch()
    {
        Assert.Equal(0, _feeds.Publications.CurrentGeneration);
        Assert.False(File.Exists(Served("root.json")));
        var feed = _feeds.NewFeed(null, "1.0.0");
        PushFeeds.WriteGroup(feed, "web", 1, _feeds.DeployKey);
        await AcceptedAsync(feed, 1);
        Assert.Equal(File.ReadAllBytes(Path.Combine(feed, "channels/stable.json")), File.ReadAllBytes(Served("channels/stable.json")));
        Assert.True(File.Exists(Served("agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.gz")));
        Assert.True(File.Exists(Served("groups/web.json.minisig")));
        Assert.Equal("generations/1", new FileInfo(_feeds.Served).LinkTarget);

        _feeds.Publish(feed, "1.1.0");
        await AcceptedAsync(feed, 2);
        Assert.Contains("1.1.0", File.ReadAllText(Served("channels/stable.json")), StringComparison.Ordinal);
        // The same feed again is no rollback: the same sequence with the same bytes.
        await AcceptedAsync(feed, 3);
        _feeds.Publish(feed, "1.2.0");
        await AcceptedAsync(feed, 4);
        // The current generation and the two before it are kept; older ones are deleted.
        Assert.Equal(["2", "3", "4"], Directory.GetDirectories(_feeds.Hosting.Generations).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task AManifestChangedAfterItWasSignedIsRefused()
    {
        var feed = _feeds.NewFeed(null, "1.0.0");
        var manifest = Path.Combine(feed, "channels/stable.json");
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("\"percent\": 100", "\"percent\": 99", StringComparison.Ordinal));
        await RefusedAsync(feed, "signature", 0);
    }

    [Fact]
    public async Task ARootSignedByAReleaseKeyInsteadOfTheRootKeyIsRefused()
    {
        var feed = _feeds.NewFeed(null, "1.0.0");
        var root = File.ReadAllBytes(Path.Combine(feed, "root.json"));
        File.WriteAllBytes(Path.Combine(feed, "root.json.minisig"), _feeds.ReleaseKey.Sign(root).ToFileBytes());
        foreach (var perKey in Directory.GetFiles(Path.Combine(feed, "root"), "*.minisig"))
        {
            File.WriteAllBytes(perKey, _feeds.ReleaseKey.Sign(root).ToFileBytes());
        }
        await RefusedAsync(feed, "root.json", 0);
    }

    [Fact]
    public async Task AnOlderFeedPushedAgainIsRefusedAsARollback()
    {
        var feed = _feeds.NewFeed(null, "1.0.0");
        var old = _feeds.Copy(feed);
        _feeds.Publish(feed, "1.1.0");
        await AcceptedAsync(feed, 1);
        await RefusedAsync(old, "lower than 2 already seen", 1);
        Assert.Contains("1.1.0", File.ReadAllText(Served("channels/stable.json")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AChannelOrGroupThatTheHubServesCannotBeDroppedOrReSignedWithTheSameSequence()
    {
        var feed = _feeds.NewFeed(null, "1.0.0");
        PushFeeds.WriteGroup(feed, "web", 3, _feeds.DeployKey);
        await AcceptedAsync(feed, 1);
        var noGroup = _feeds.Copy(feed);
        File.Delete(Path.Combine(noGroup, "groups/web.json"));
        File.Delete(Path.Combine(noGroup, "groups/web.json.minisig"));
        await RefusedAsync(noGroup, "has no groups/web.json", 1);
        PushFeeds.WriteGroup(feed, "web", 2, _feeds.DeployKey);
        await RefusedAsync(feed, "lower than 3 already seen", 1);
        // A document with the same sequence as the one served, but other content (a later expiry).
        await Task.Delay(1100, TestContext.Current.CancellationToken);
        PushFeeds.WriteGroup(feed, "web", 3, _feeds.DeployKey);
        await RefusedAsync(feed, "the same as the one served, with other content", 1);
    }

    [Fact]
    public async Task AnArtifactThatIsNotTheOneTheManifestNamesIsRefused()
    {
        var feed = _feeds.NewFeed(null, "1.0.0");
        File.WriteAllText(Path.Combine(feed, "agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.gz"), "agent 6.6.6");
        await RefusedAsync(feed, "SHA-256", 0);
        var missing = _feeds.NewFeed(null, "1.0.0");
        File.Delete(Path.Combine(missing, "agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.gz"));
        await RefusedAsync(missing, "was not found", 0);
    }

    [Fact]
    public async Task AGroupDocumentNotSignedByADeployKeyIsRefused()
    {
        var feed = _feeds.NewFeed(null, "1.0.0");
        PushFeeds.WriteGroup(feed, "web", 1, _feeds.ReleaseKey);
        await RefusedAsync(feed, "groups/web.json", 0);
    }

    [Fact]
    public async Task AnExpiredManifestIsRefused()
    {
        var feed = _feeds.NewFeed(new FakeClock(DateTimeOffset.UtcNow.AddDays(-40)), "1.0.0");
        await RefusedAsync(feed, "expired", 0);
    }

    [Theory]
    [InlineData("../escape.json", "")]
    [InlineData("/etc/belay-owned", "")]
    [InlineData("agent/link", "symlink")]
    [InlineData("agent/hard", "hardlink")]
    [InlineData("www/index.html", "")]
    [InlineData("channels/notes.txt", "")]
    public async Task APathThatLeavesTheFeedALinkOrAFileNoFeedHasIsRefused(string name, string kind)
    {
        var feed = _feeds.NewFeed(null, "1.0.0");
        var bundle = PushFeeds.HandMadeBundle(feed, tar =>
        {
            var entry = kind switch
            {
                "symlink" => new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = "../../../etc/passwd" },
                "hardlink" => new PaxTarEntry(TarEntryType.HardLink, name) { LinkName = "root.json" },
                _ => new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream("<script>alert(1)</script>"u8.ToArray()) },
            };
            tar.WriteEntry(entry);
        });
        await RefusedAsync(bundle, name.TrimStart('.', '/').Split('/')[0], 0);
        Assert.False(File.Exists(Path.Combine(_feeds.Hosting.Directory, "escape.json")));
        Assert.False(File.Exists(Path.Combine(_feeds.Hosting.Generations, "escape.json")));
    }

    [Fact]
    public async Task AnUploadLargerThanTheLimitIsRefusedBeforeItIsUnpacked()
    {
        using var small = new PushFeeds(maxUpload: 16 * 1024);
        var feed = small.NewFeed(null);
        small.Publish(feed, "1.0.0", artifactBytes: 64 * 1024);
        var bundle = PushFeeds.Bundle(feed);
        foreach (var announce in new[] { true, false })
        {
            var outcome = await small.PushAsync(bundle, announce);
            Assert.True(outcome.Status == 413 && outcome.Answer.Code == FeedPush.TooLargeCode, PushFeeds.Describe(outcome));
            Assert.Contains("16384 bytes", outcome.Answer.Error, StringComparison.Ordinal);
            Assert.Equal(0, small.Publications.CurrentGeneration);
            Assert.Empty(Directory.EnumerateFileSystemEntries(small.Hosting.Directory, ".incoming*"));
        }
    }

    [Fact]
    public async Task AFileThatIsNotGzipIsRefusedWithAReason()
    {
        var outcome = await _feeds.PushAsync("not a tar.gz at all"u8.ToArray());
        Assert.True(outcome.Status == 422, PushFeeds.Describe(outcome));
        Assert.Equal(0, _feeds.Publications.CurrentGeneration);
    }

    [Fact]
    public void TheBundleLeavesOutHiddenFilesAndRefusesLinks()
    {
        var feed = _feeds.NewFeed(null, "1.0.0");
        File.WriteAllText(Path.Combine(feed, "channels/.stable.json.tmp"), "half");
        using (var buffer = new MemoryStream())
        {
            var files = Core.Publishing.FeedBundle.Create(feed, buffer);
            Assert.DoesNotContain(files, f => f.Contains("/.", StringComparison.Ordinal));
            Assert.Contains("channels/stable.json", files);
        }
        File.CreateSymbolicLink(Path.Combine(feed, "agent/latest"), "1.0.0");
        var e = Assert.Throws<Core.BelayException>(() => Core.Publishing.FeedBundle.Create(feed, new MemoryStream()));
        Assert.Contains("symbolic link", e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _feeds.Dispose();
}
