using System.Security.Cryptography;
using System.Text;
using Belay.Core.Feed;
using Belay.Core.Minisign;
using Belay.Core.Publishing;
using Belay.TestSupport;

namespace Belay.Core.Tests.Publishing;

public sealed class FeedPublisherTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly FakeClock _clock = new();
    private readonly MinisignSecretKey _rootKey = MinisignSecretKey.Generate();
    private readonly MinisignSecretKey _releaseKey = MinisignSecretKey.Generate();
    private readonly List<string> _log = [];

    public void Dispose() => _dir.Dispose();

    private string Feed => _dir.Combine("feed");

    private FeedPublisher Publisher(IFeedFiles? files = null) => new(_log.Add, _clock, files);

    private string Archive(string name, string content = "agent")
    {
        var path = _dir.Combine(name);
        File.WriteAllText(path, content);
        return path;
    }

    private PublishRequest Request(string version, string channel = "stable") => new(
        Feed, channel, version,
        new Dictionary<string, string> { ["linux-x64"] = Archive($"a-{version}.tar.gz", "agent " + version), ["win-x64"] = Archive($"a-{version}.zip", "win " + version) },
        new Dictionary<string, string> { ["linux-x64"] = Archive($"belay-{version}", "belay " + version) },
        _releaseKey);

    private void InitFeed()
    {
        Directory.CreateDirectory(Feed);
        Publisher().Init(Feed, _rootKey, [_releaseKey.PublicKey]);
    }

    private Dictionary<string, string> Snapshot() => FailingFeedFiles.Snapshot(Feed);

    private ChannelManifest ReadManifest(string channel = "stable")
    {
        var root = FeedTrust.VerifyRoot(File.ReadAllBytes(Path.Combine(Feed, "root.json")), File.ReadAllBytes(Path.Combine(Feed, "root.json.minisig")),
            [_rootKey.PublicKey], _clock.GetUtcNow(), "root.json");
        var path = Path.Combine(Feed, "channels", channel + ".json");
        return FeedTrust.VerifyManifest(File.ReadAllBytes(path), File.ReadAllBytes(path + ".minisig"), root, channel, _clock.GetUtcNow(), 0, path);
    }

    [Fact]
    public void EachPublishRaisesTheSequenceByOneAndSetsANewExpiry()
    {
        InitFeed();
        Publisher().Publish(Request("1.0.0"));
        Assert.Equal(1, ReadManifest().Sequence);
        _clock.Advance(TimeSpan.FromDays(1));
        Publisher().Publish(Request("1.1.0") with { ExpiresIn = TimeSpan.FromDays(7) });
        var manifest = ReadManifest();
        Assert.Equal(2, manifest.Sequence);
        Assert.Equal(_clock.Now + TimeSpan.FromDays(7), manifest.Expires);
        Assert.Equal(["1.0.0", "1.1.0"], manifest.Releases.Select(r => r.Version));
    }

    [Fact]
    public void TheManifestBindsEachArtifactBySizeAndHashAndListsBootstrapChecksums()
    {
        InitFeed();
        Publisher().Publish(Request("1.0.0"));
        var release = Assert.Single(ReadManifest().Releases);
        var linux = release.Artifacts["linux-x64"];
        Assert.Equal("agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.gz", linux.Path);
        var bytes = File.ReadAllBytes(Path.Combine(Feed, linux.Path));
        Assert.Equal(bytes.Length, linux.Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), linux.Sha256);
        Assert.Equal("agent/1.0.0/belay-agent-1.0.0-win-x64.zip", release.Artifacts["win-x64"].Path);
        var boot = release.Bootstrap!["linux-x64"];
        var sums = File.ReadAllText(Path.Combine(Feed, "bootstrap", "1.0.0", "SHA256SUMS"));
        // The gzip copy install.sh downloads, beside the bootstrapper: signed, listed, and exactly its bytes once decompressed.
        var gz = Path.Combine(Feed, boot.Path + ".gz");
        Assert.Equal($"{boot.Sha256}  belay-linux-x64\n{Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(gz)))}  belay-linux-x64.gz\n", sums);
        Assert.True(File.Exists(gz + ".minisig"));
        using (var unzip = new System.IO.Compression.GZipStream(File.OpenRead(gz), System.IO.Compression.CompressionMode.Decompress))
        using (var raw = new MemoryStream())
        {
            unzip.CopyTo(raw);
            Assert.Equal(File.ReadAllBytes(Path.Combine(Feed, boot.Path)), raw.ToArray());
        }
        Assert.True(File.Exists(Path.Combine(Feed, linux.Path + ".minisig")));
    }

    [Fact]
    public void AFailureAtAnyWriteLeavesTheFeedAsItWas()
    {
        InitFeed();
        Publisher().Publish(Request("1.0.0"));
        var before = Snapshot();

        // Count the writes of a successful publish in a copy of the feed...
        var counting = new FailingFeedFiles(failAt: int.MaxValue);
        var copy = _dir.Combine("copy");
        FailingFeedFiles.CopyDirectory(Feed, copy);
        Publisher(counting).Publish(Request("1.1.0") with { FeedDirectory = copy });
        Assert.True(counting.Writes > 8, $"only {counting.Writes} writes counted");

        // ...then fail at each one in turn.
        for (var n = 1; n <= counting.Writes; n++)
        {
            var failing = new FailingFeedFiles(failAt: n);
            var e = Record.Exception(() => Publisher(failing).Publish(Request("1.1.0")));
            Assert.True(e is IOException or BelayException, $"write {n}: {e}");
            Assert.True(failing.Failed, $"write {n} did not fail");
            Assert.Equal(before, Snapshot());
        }
        Publisher().Publish(Request("1.1.0"));
        Assert.Equal(2, ReadManifest().Sequence);
    }

    [Fact]
    public void ATamperedExistingManifestStopsThePublish()
    {
        InitFeed();
        Publisher().Publish(Request("1.0.0"));
        var path = Path.Combine(Feed, "channels", "stable.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"sequence\": 1", "\"sequence\": 9", StringComparison.Ordinal));
        var e = Assert.Throws<BelayException>(() => Publisher().Publish(Request("1.1.0")));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
    }

    [Fact]
    public void AnArtifactWithTheWrongArchiveTypeForItsRidIsRefused()
    {
        InitFeed();
        var request = Request("1.0.0") with { Artifacts = new Dictionary<string, string> { ["win-x64"] = Archive("x.tar.gz") } };
        var e = Assert.Throws<BelayException>(() => Publisher().Publish(request));
        Assert.Contains("must be a .zip archive", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InitRefusesToReplaceRootUnlessForcedAndThenRaisesItsVersion()
    {
        InitFeed();
        Assert.Throws<BelayException>(() => Publisher().Init(Feed, _rootKey, [_releaseKey.PublicKey]));
        var root = Publisher().Init(Feed, _rootKey, [_releaseKey.PublicKey], force: true);
        Assert.Equal(2, root.Version);
    }

    [Fact]
    public void RefreshReSignsTheSameReleasesWithAHigherSequenceAndALaterExpiry()
    {
        InitFeed();
        Publisher().Publish(Request("1.0.0") with { ExpiresIn = TimeSpan.FromDays(1) });
        _clock.Advance(TimeSpan.FromDays(2)); // expired now: refresh is how it is renewed
        var refreshed = Publisher().Refresh(Feed, "stable", _releaseKey, TimeSpan.FromDays(30));
        Assert.Equal(2, refreshed.Sequence);
        var manifest = ReadManifest();
        Assert.Equal(2, manifest.Sequence);
        Assert.Equal(_clock.Now + TimeSpan.FromDays(30), manifest.Expires);
        Assert.Equal("1.0.0", Assert.Single(manifest.Releases).Version);
    }

    [Fact]
    public void RefreshOfAChannelWithoutAManifestSaysToPublishFirst()
    {
        InitFeed();
        var e = Assert.Throws<BelayException>(() => Publisher().Refresh(Feed, "beta", _releaseKey));
        Assert.Contains("publish a release to it first", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ChannelsAreIndependent()
    {
        InitFeed();
        Publisher().Publish(Request("2.0.0"));
        Publisher().Publish(Request("1.0.0", "beta"));
        Assert.Equal(1, ReadManifest("beta").Sequence);
        Assert.Equal("1.0.0", Assert.Single(ReadManifest("beta").Releases).Version);
    }
}
