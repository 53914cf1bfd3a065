using System.Security.Cryptography;
using Belay.Core.Feed;
using Belay.Core.Minisign;
using Belay.Core.Publishing;
using Belay.TestSupport;

namespace Belay.Core.Tests.Publishing;

/// <summary>yank, rollout and list: rewrites of a channel's signed manifest that change one release and nothing else.</summary>
public sealed class ReleaseChangesTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly FakeClock _clock = new();
    private readonly MinisignSecretKey _rootKey = MinisignSecretKey.Generate();
    private readonly MinisignSecretKey _releaseKey = MinisignSecretKey.Generate();
    private readonly List<string> _log = [];

    public ReleaseChangesTests()
    {
        Directory.CreateDirectory(Feed);
        Publisher().Init(Feed, _rootKey, [_releaseKey.PublicKey]);
        foreach (var version in new[] { "1.0.0", "1.1.0" })
        {
            var archive = _dir.Combine($"a-{version}.tar.gz");
            File.WriteAllText(archive, "agent " + version);
            Publisher().Publish(new PublishRequest(Feed, "stable", version, new Dictionary<string, string> { ["linux-x64"] = archive }, new Dictionary<string, string>(), _releaseKey));
        }
    }

    public void Dispose() => _dir.Dispose();

    private string Feed => _dir.Combine("feed");

    private FeedPublisher Publisher() => new(_log.Add, _clock);

    private ChannelManifest Read()
    {
        var root = FeedTrust.VerifyRoot(File.ReadAllBytes(Path.Combine(Feed, "root.json")), File.ReadAllBytes(Path.Combine(Feed, "root.json.minisig")),
            [_rootKey.PublicKey], _clock.GetUtcNow(), "root.json");
        var path = Path.Combine(Feed, "channels", "stable.json");
        return FeedTrust.VerifyManifest(File.ReadAllBytes(path), File.ReadAllBytes(path + ".minisig"), root, "stable", _clock.GetUtcNow(), 0, path);
    }

    private string Artifacts() => string.Join(",", Directory.GetFiles(Path.Combine(Feed, "agent"), "*", SearchOption.AllDirectories)
        .Order(StringComparer.Ordinal).Select(f => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f)))));

    [Fact]
    public void YankMarksTheReleaseSetsItsRolloutToZeroAndReSignsWithTheNextSequence()
    {
        var artifacts = Artifacts();
        _clock.Advance(TimeSpan.FromMinutes(5));
        Publisher().Yank(Feed, "stable", "1.1.0", _releaseKey);

        var manifest = Read();
        Assert.Equal(3, manifest.Sequence);
        var yanked = manifest.Releases.Single(r => r.Version == "1.1.0");
        Assert.Equal(_clock.GetUtcNow().ToUnixTimeSeconds(), yanked.Yanked!.Value.ToUnixTimeSeconds());
        Assert.Equal(0, yanked.Rollout.Percent);
        var kept = manifest.Releases.Single(r => r.Version == "1.0.0");
        Assert.Null(kept.Yanked);
        Assert.Equal(100, kept.Rollout.Percent);
        Assert.Equal(artifacts, Artifacts()); // its files stay
        Assert.Contains("version 1.1.0 is yanked", _log[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void YankTwiceIsRefusedAndUndoPutsItBackAtZeroPercent()
    {
        Publisher().Yank(Feed, "stable", "1.1.0", _releaseKey);
        var again = Assert.Throws<BelayException>(() => Publisher().Yank(Feed, "stable", "1.1.0", _releaseKey));
        Assert.Contains("already yanked", again.Message, StringComparison.Ordinal);
        Assert.Equal(3, Read().Sequence);

        Publisher().Yank(Feed, "stable", "1.1.0", _releaseKey, undo: true);
        var back = Read().Releases.Single(r => r.Version == "1.1.0");
        Assert.Null(back.Yanked);
        Assert.Equal(0, back.Rollout.Percent);
        Assert.Equal(4, Read().Sequence);
    }

    [Fact]
    public void RolloutChangesOnlyThatReleasesPercentAndRefusesAYankedOne()
    {
        Publisher().SetRollout(Feed, "stable", "1.1.0", 25, _releaseKey);
        var manifest = Read();
        Assert.Equal(3, manifest.Sequence);
        Assert.Equal(25, manifest.Releases.Single(r => r.Version == "1.1.0").Rollout.Percent);
        Assert.Equal(100, manifest.Releases.Single(r => r.Version == "1.0.0").Rollout.Percent);
        Assert.Contains("rolled out to 25% (was 100%)", _log[^1], StringComparison.Ordinal);

        Publisher().Yank(Feed, "stable", "1.1.0", _releaseKey);
        var refused = Assert.Throws<BelayException>(() => Publisher().SetRollout(Feed, "stable", "1.1.0", 50, _releaseKey));
        Assert.Contains("yank 1.1.0 --undo", refused.Message, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, Assert.Throws<BelayException>(() => Publisher().SetRollout(Feed, "stable", "1.0.0", 101, _releaseKey)).ExitCode);
    }

    [Fact]
    public void AChangeOfAVersionThatIsNotPublishedSaysWhatIs()
    {
        var e = Assert.Throws<BelayException>(() => Publisher().Yank(Feed, "stable", "9.9.9", _releaseKey));
        Assert.Equal("version 9.9.9 is not on channel stable (it has: 1.0.0, 1.1.0)", e.Message);
    }

    [Fact]
    public void AChangeSignedWithAKeyThatIsNoReleaseKeyIsATrustFailureAndWritesNothing()
    {
        var before = File.ReadAllBytes(Path.Combine(Feed, "channels", "stable.json"));
        var e = Assert.Throws<BelayException>(() => Publisher().Yank(Feed, "stable", "1.1.0", MinisignSecretKey.Generate()));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(Feed, "channels", "stable.json")));
    }

    [Fact]
    public void ListShowsEveryChannelsReleasesOldestFirstWithRolloutAndYank()
    {
        Publisher().SetRollout(Feed, "stable", "1.0.0", 40, _releaseKey);
        Publisher().Yank(Feed, "stable", "1.1.0", _releaseKey);
        var channel = Assert.Single(Publisher().List(Feed));
        Assert.Equal("stable", channel.Channel);
        Assert.Equal(4, channel.Sequence);
        Assert.Equal(["1.0.0", "1.1.0"], channel.Releases.Select(r => r.Version));
        Assert.Equal(40, channel.Releases[0].RolloutPercent);
        Assert.Null(channel.Releases[0].Yanked);
        Assert.NotNull(channel.Releases[1].Yanked);
        Assert.Equal(["linux-x64"], channel.Releases[1].Rids);
    }
}
