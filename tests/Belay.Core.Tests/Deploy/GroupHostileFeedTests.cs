using System.Diagnostics;
using System.Security.Cryptography;
using Belay.Core.Deploy;
using Belay.Core.Feed;
using Belay.Core.Tests.Trust;
using Belay.TestSupport;

namespace Belay.Core.Tests.Deploy;

/// <summary>
/// The group document, its signature and an app archive, each against every misbehaviour of
/// <see cref="HostileFeedServer"/>: the poll or the fetch ends in bounded time with a clear,
/// typed failure (the same limits as the agent's own downloads), the watermark is not moved,
/// and no download is left behind.
/// </summary>
public sealed class GroupHostileFeedTests : IDisposable
{
    private readonly DeployFeed _feed = new();
    private readonly string _downloads;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public GroupHostileFeedTests()
    {
        // An archive of some size, so that trickling and cutting it short both take effect.
        var folder = _feed.ReleaseFolder("shop", "1.0");
        File.WriteAllBytes(Path.Combine(folder, "payload.bin"), RandomNumberGenerator.GetBytes(200_000));
        var archive = Core.Publishing.AppArchive.Create(folder, "shop", "1.0", "any", _feed.Combine("out"), Core.Publishing.ArchiveBuilder.EntryTime(null)).Path;
        _feed.Publisher.Deploy(new Core.Publishing.DeployRequest(_feed.Root, "web", _feed.DeployKey, "shop", "1.0", new Dictionary<string, string> { ["any"] = archive }));
        _downloads = _feed.Combine("downloads");
        Directory.CreateDirectory(_downloads);
    }

    public void Dispose() => _feed.Dispose();

    public static TheoryData<Hostility, string> Attacks() => HostileCases.Attacks("document", "signature", "archive");

    private static Func<string, bool> Target(string target) => target switch
    {
        "document" => p => p == "groups/web.json",
        "signature" => p => p == "groups/web.json.minisig",
        _ => p => p.StartsWith("apps/", StringComparison.Ordinal),
    };

    [Theory]
    [MemberData(nameof(Attacks))]
    public async Task EveryPathEndsInBoundedTimeWithATypedFailureAndMovesNothing(Hostility behaviour, string target)
    {
        await using var server = new HostileFeedServer(_feed.Root);
        // The honest first poll with the default limits: a loaded machine must not fail it.
        var honest = await _feed.Client(feeds: [server.Url]).PollAsync(Ct);
        Assert.True(honest.Outcome == GroupPollOutcome.Changed, honest.Error?.Message);
        var watermarks = File.ReadAllBytes(_feed.WatermarkFile);

        server.Behaviour = behaviour;
        server.Targets = Target(target);
        var watch = Stopwatch.StartNew();
        BelayException failure;
        if (target == "archive")
        {
            using var source = FeedSource.Open(server.Url);
            source.Limits = HostileCases.Limits;
            failure = await Assert.ThrowsAnyAsync<BelayException>(() =>
                AppArtifactFetcher.FetchAsync(source, "shop", honest.Document!.Apps["shop"], "linux-x64", _downloads, Ct));
        }
        else
        {
            var poll = await _feed.Client(feeds: [server.Url], limits: HostileCases.Limits).PollAsync(Ct);
            Assert.Equal(GroupPollOutcome.Failed, poll.Outcome);
            failure = poll.Error!;
            Assert.Equal(
                behaviour is Hostility.HugeContentLength or Hostility.Endless ? GroupFeedFailure.Untrusted : GroupFeedFailure.Unreachable,
                poll.Error!.Failure);
        }
        watch.Stop();

        Assert.True(watch.Elapsed < HostileCases.Bound, $"{behaviour} on {target} took {watch.Elapsed}");
        Assert.Equal(behaviour is Hostility.HugeContentLength or Hostility.Endless ? ExitCodes.TrustFailure : ExitCodes.FeedUnreachable, failure.ExitCode);
        Assert.Contains(server.Url, failure.Message, StringComparison.Ordinal);
        Assert.Equal(watermarks, File.ReadAllBytes(_feed.WatermarkFile));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_downloads));
    }

    [Fact]
    public async Task AReplayOfAnOlderFeedIsRefusedAndTheWatermarkStays()
    {
        var old = _feed.Combine("old-feed");
        CopyTree(_feed.Root, old);
        _feed.Deploy("web", "shop", "1.1");
        await using var server = new HostileFeedServer(_feed.Root);
        var client = _feed.Client(feeds: [server.Url], limits: HostileCases.Limits);
        Assert.Equal(2, (await client.PollAsync(Ct)).Document!.Sequence);
        server.ReplayRoot = old;
        server.Behaviour = Hostility.Replay;
        var replay = await client.PollAsync(Ct);
        Assert.Equal(GroupFeedFailure.Replayed, replay.Error!.Failure);
        Assert.Equal(2, client.Watermark);
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
