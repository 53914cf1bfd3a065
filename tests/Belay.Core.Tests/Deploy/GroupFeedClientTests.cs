using System.Text.RegularExpressions;
using Belay.Core.Deploy;
using Belay.Core.Feed;
using Belay.Core.Minisign;
using Belay.TestSupport;

namespace Belay.Core.Tests.Deploy;

/// <summary>How a host polls its group's document (core/Deploy/GroupFeedClient.cs).</summary>
public sealed class GroupFeedClientTests : IDisposable
{
    private readonly DeployFeed _feed = new();

    public void Dispose() => _feed.Dispose();

    private static async Task<GroupPoll> Poll(GroupFeedClient client) => await client.PollAsync(CancellationToken.None);

    [Fact]
    public async Task AGroupWithNoDocumentIsMissingNotAnError()
    {
        var poll = await Poll(_feed.Client());
        Assert.Equal(GroupPollOutcome.Missing, poll.Outcome);
        Assert.Null(poll.Error);
        Assert.Null(poll.Document);
    }

    [Fact]
    public async Task AGroupWithNoDocumentIsMissingWithoutAnExceptionAtEachPoll()
    {
        // Polled every interval on most hosts (a group before its first deploy): an exception thrown and rethrown
        // through the awaits at each poll was a third of an idle agent's instructions. None is raised, caught or not.
        await using var server = new HostileFeedServer(_feed.Root);
        var raised = new List<Exception>();
        void OnRaised(object? sender, System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs e)
        {
            if (e.Exception is FeedFileNotFoundException missing && (missing.Where.Contains(server.Url, StringComparison.Ordinal) || missing.Where.Contains(_feed.Root, StringComparison.Ordinal)))
            {
                lock (raised)
                {
                    raised.Add(e.Exception);
                }
            }
        }
        AppDomain.CurrentDomain.FirstChanceException += OnRaised;
        try
        {
            foreach (var client in new[] { _feed.Client(feeds: [server.Url]), _feed.Client() })
            {
                for (var i = 0; i < 3; i++)
                {
                    var poll = await Poll(client);
                    Assert.Equal(GroupPollOutcome.Missing, poll.Outcome);
                    Assert.Null(poll.Error);
                }
            }
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= OnRaised;
        }
        Assert.Empty(raised);

        // FetchAsync itself still says "not found" as an exception, for callers to whom a missing file is an error.
        foreach (var source in new[] { FeedSource.Open(server.Url), FeedSource.Open(_feed.Root) })
        {
            Assert.Null(await source.FetchIfPresentAsync("groups/web.json", null, FeedSource.MetadataLimit, CancellationToken.None));
            await Assert.ThrowsAsync<FeedFileNotFoundException>(() => source.FetchAsync("groups/web.json", null, FeedSource.MetadataLimit, CancellationToken.None));
        }
    }

    [Fact]
    public async Task ADeployedDocumentComesVerifiedAndOnceAcknowledgedItIsNotModifiedUntilTheNextDeploy()
    {
        _feed.Deploy("web", "shop", "1.0");
        var client = _feed.Client();
        var first = await Poll(client);
        Assert.True(first.Outcome == GroupPollOutcome.Changed, first.Error?.Message);
        Assert.Equal("1.0", first.Document!.Apps["shop"].Version);
        Assert.NotNull(first.ETag);
        client.Acknowledge(first);

        var second = await Poll(client);
        Assert.Equal(GroupPollOutcome.NotModified, second.Outcome);
        Assert.Same(first.Document, second.Document);

        _feed.Clock.Advance(TimeSpan.FromSeconds(2));
        _feed.Deploy("web", "shop", "1.1");
        var third = await Poll(client);
        Assert.Equal(GroupPollOutcome.Changed, third.Outcome);
        Assert.Equal("1.1", third.Document!.Apps["shop"].Version);
        Assert.Equal(2, third.Document.Sequence);
    }

    [Fact]
    public async Task ADocumentTheAgentDidNotAcknowledgeIsFetchedInFullAgain()
    {
        // An agent killed mid-deploy must not be told "not modified" about what it never finished.
        _feed.Deploy("web", "shop", "1.0");
        var client = _feed.Client();
        Assert.Equal(GroupPollOutcome.Changed, (await Poll(client)).Outcome);
        var again = await Poll(client);
        Assert.Equal(GroupPollOutcome.Changed, again.Outcome);
        Assert.Equal(1, again.Document!.Sequence);
    }

    [Fact]
    public async Task TheWatermarkIsPersistedSoAReplayIsRefusedAfterARestart()
    {
        _feed.Deploy("web", "shop", "1.0");
        var path = _feed.File("groups/web.json");
        var (oldJson, oldSig) = (File.ReadAllBytes(path), File.ReadAllBytes(path + ".minisig"));
        _feed.Deploy("web", "shop", "1.1");
        Assert.Equal(GroupPollOutcome.Changed, (await Poll(_feed.Client())).Outcome);
        Assert.Contains("\"sequence\": 2", File.ReadAllText(_feed.WatermarkFile), StringComparison.Ordinal);

        File.WriteAllBytes(path, oldJson);
        File.WriteAllBytes(path + ".minisig", oldSig);
        var restarted = _feed.Client();
        var poll = await Poll(restarted);
        Assert.Equal(GroupPollOutcome.Failed, poll.Outcome);
        Assert.Equal(GroupFeedFailure.Replayed, poll.Error!.Failure);
        Assert.Contains("sequence 1, lower than 2 already seen for group web", poll.Error.Message, StringComparison.Ordinal);
        Assert.Equal(2, restarted.Watermark);
    }

    [Fact]
    public async Task AFailedPollNeverMovesTheWatermark()
    {
        _feed.Deploy("web", "shop", "1.0");
        var client = _feed.Client();
        Assert.Equal(GroupPollOutcome.Changed, (await Poll(client)).Outcome);
        var forged = new GroupDocument { Group = "web", Sequence = 1000, Expires = _feed.Clock.GetUtcNow().AddDays(1) };
        _feed.WriteGroup(forged, _feed.ReleaseKey);
        var poll = await Poll(client);
        Assert.Equal(GroupPollOutcome.Failed, poll.Outcome);
        Assert.Equal(GroupFeedFailure.Untrusted, poll.Error!.Failure);
        Assert.Contains("it is a release key", poll.Error.Message, StringComparison.Ordinal);
        Assert.Equal(1, client.Watermark);
        Assert.Equal(1, _feed.Client().Watermark);
    }

    [Fact]
    public async Task AnAcknowledgedDocumentThatExpiresIsRefusedEvenWhenTheFeedAnswersNotModified()
    {
        _feed.Deploy("web", "shop", "1.0", expiresIn: TimeSpan.FromDays(1));
        var client = _feed.Client();
        var poll = await Poll(client);
        client.Acknowledge(poll);
        _feed.Clock.Advance(TimeSpan.FromDays(2));
        var stale = await Poll(client);
        Assert.Equal(GroupPollOutcome.Failed, stale.Outcome);
        Assert.Equal(GroupFeedFailure.Expired, stale.Error!.Failure);
        Assert.Contains("still answers 'not modified'", stale.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnotherGroupsDocumentServedInPlaceOfOursIsRefused()
    {
        _feed.Deploy("staging", "shop", "9.9");
        Directory.CreateDirectory(_feed.File("groups"));
        File.Copy(_feed.File("groups/staging.json"), _feed.File("groups/web.json"));
        File.Copy(_feed.File("groups/staging.json.minisig"), _feed.File("groups/web.json.minisig"));
        var poll = await Poll(_feed.Client());
        Assert.Equal(GroupFeedFailure.WrongGroup, poll.Error!.Failure);
    }

    [Fact]
    public async Task ADocumentThatDisappearsAfterItWasSeenIsAFailureNotAnEmptyDesiredState()
    {
        _feed.Deploy("web", "shop", "1.0");
        var client = _feed.Client();
        client.Acknowledge(await Poll(client));
        File.Delete(_feed.File("groups/web.json"));
        var poll = await Poll(client);
        Assert.Equal(GroupPollOutcome.Failed, poll.Outcome);
        Assert.Equal(GroupFeedFailure.Missing, poll.Error!.Failure);
        Assert.Contains("keeping the apps as they are", poll.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnsignedDocumentIsRefused()
    {
        _feed.Deploy("web", "shop", "1.0");
        File.Delete(_feed.File("groups/web.json.minisig"));
        var poll = await Poll(_feed.Client());
        Assert.Equal(GroupFeedFailure.Untrusted, poll.Error!.Failure);
        Assert.Contains("no signature", poll.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARotationOfTheDeployKeysResetsTheWatermarkAndRevokesTheOldKey()
    {
        _feed.Deploy("web", "shop", "1.0");
        _feed.Deploy("web", "shop", "1.1");
        var client = _feed.Client();
        Assert.Equal(2, (await Poll(client)).Document!.Sequence);

        var stolen = _feed.DeployKey;
        var fresh = MinisignSecretKey.Generate();
        _feed.Rotate(deployKeys: [fresh.PublicKey]);
        var forged = new GroupDocument { Group = "web", Sequence = 1_000_000, Expires = _feed.Clock.GetUtcNow().AddDays(1) };
        _feed.WriteGroup(forged, stolen);
        var refused = await Poll(client);
        Assert.Equal(GroupFeedFailure.Untrusted, refused.Error!.Failure);

        // Fast-forward recovery: under the new deploy keys the watermark starts over.
        _feed.WriteGroup(new GroupDocument { Group = "web", Sequence = 1, Expires = _feed.Clock.GetUtcNow().AddDays(1) }, fresh);
        var recovered = await Poll(client);
        Assert.True(recovered.Outcome == GroupPollOutcome.Changed, recovered.Error?.Message);
        Assert.Equal(1, recovered.Document!.Sequence);
    }

    [Fact]
    public async Task AHostFollowsARotationThatAddsTheDeployRoleToAnOlderFeed()
    {
        using var feed = new DeployFeed(withDeployRole: false);
        var client = feed.Client();
        Assert.Equal(GroupPollOutcome.Missing, (await Poll(client)).Outcome);
        feed.Rotate(deployKeys: [feed.DeployKey.PublicKey]);
        feed.Deploy("web", "shop", "1.0");
        var poll = await Poll(client);
        Assert.True(poll.Outcome == GroupPollOutcome.Changed, poll.Error?.Message);
    }

    [Fact]
    public async Task MirrorsAreTriedInTurnAndTheOneThatAnsweredComesFirstForDownloads()
    {
        _feed.Deploy("web", "shop", "1.0");
        var poll = await Poll(_feed.Client(feeds: [_feed.Combine("no-such-feed"), _feed.Root]));
        Assert.Equal(GroupPollOutcome.Changed, poll.Outcome);
        Assert.Equal(_feed.Root, poll.Source.Location);

        var down = await Poll(_feed.Client(feeds: [_feed.Combine("no-such-feed")]));
        Assert.Equal(GroupFeedFailure.Unreachable, down.Error!.Failure);
        Assert.Equal(ExitCodes.FeedUnreachable, down.Error.ExitCode);
    }

    [Fact]
    public async Task OverHttpTheFeedAnswers304BetweenChanges()
    {
        ExternalTool.Require("nginx", "nginx-light");
        using var nginx = NginxServer.Start(_feed.Root);
        _feed.Deploy("web", "shop", "1.0");
        var client = _feed.Client(feeds: [nginx.BaseUri.AbsoluteUri]);
        var first = await Poll(client);
        Assert.True(first.Outcome == GroupPollOutcome.Changed, first.Error?.Message + "\n" + nginx.Diagnostics);
        client.Acknowledge(first);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(GroupPollOutcome.NotModified, (await Poll(client)).Outcome);
        }
        _feed.Clock.Advance(TimeSpan.FromSeconds(5));
        _feed.Deploy("web", "shop", "1.1");
        // nginx's ETag is the file's mtime (whole seconds) and size: a second deploy of the same size
        // within the same second would look unchanged. A real publisher is not that fast; this test is.
        File.SetLastWriteTimeUtc(_feed.File("groups/web.json"), DateTime.UtcNow.AddSeconds(5));
        var changed = await Poll(client);
        Assert.Equal("1.1", changed.Document!.Apps["shop"].Version);

        var requests = nginx.AccessLog.Split('\n').Where(l => l.Contains("GET /groups/web.json ", StringComparison.Ordinal)).ToList();
        var statuses = requests.Select(l => Regex.Match(l, "\" (\\d{3}) ").Groups[1].Value).ToList();
        Assert.Equal(["200", "304", "304", "304", "200"], statuses);
    }
}
