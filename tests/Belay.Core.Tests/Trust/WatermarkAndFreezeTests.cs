using Belay.Core.Feed;
using Belay.Core.Install;
using Belay.Core.Minisign;
using Belay.TestSupport;

namespace Belay.Core.Tests.Trust;

/// <summary>The manifest sequence watermark, its reset by a release key rotation, freeze (expiry) and mix-and-match.</summary>
public sealed class WatermarkAndFreezeTests : IDisposable
{
    private readonly TestFeed _feed = new();
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _feed.Dispose();

    [Fact]
    public async Task AReplayedLowerSequenceIsRefusedEvenWhenTheCallerForgetsItsWatermark()
    {
        _feed.Publish("1.0.0");
        var oldJson = File.ReadAllBytes(_feed.File("channels/stable.json"));
        var oldSig = File.ReadAllBytes(_feed.File("channels/stable.json.minisig"));
        _feed.Publish("1.1.0");
        using (var client = _feed.Client())
        {
            Assert.Equal(2, (await client.CheckAsync(0, null, Ct)).Manifest!.Sequence);
        }
        File.WriteAllBytes(_feed.File("channels/stable.json"), oldJson);
        File.WriteAllBytes(_feed.File("channels/stable.json.minisig"), oldSig);
        using var replayed = _feed.Client();
        // agent.json lost (watermark 0): trust.json still holds 2.
        var e = await Assert.ThrowsAsync<BelayException>(() => replayed.CheckAsync(0, null, Ct));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("sequence 1, lower than 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFailedCheckNeverMovesTheWatermark()
    {
        _feed.Publish("1.0.0");
        using var client = _feed.Client();
        await client.CheckAsync(0, null, Ct);
        Assert.Equal(1, _feed.Trust!.Sequence);
        // A manifest with sequence 50 but a signature by a key root does not list.
        _feed.WriteManifest(_feed.Manifest(50), MinisignSecretKey.Generate());
        await Assert.ThrowsAsync<BelayException>(() => client.CheckAsync(1, null, Ct));
        Assert.Equal(1, _feed.Trust!.Sequence);
        // An expired one with a higher sequence, validly signed: refused, watermark unchanged.
        _feed.WriteManifest(_feed.Manifest(60, expiresIn: TimeSpan.FromSeconds(-1)), _feed.ReleaseKey);
        await Assert.ThrowsAsync<StaleMetadataException>(() => client.CheckAsync(1, null, Ct));
        Assert.Equal(1, _feed.Trust!.Sequence);
    }

    [Fact]
    public async Task OnlyARotationOfTheReleaseKeysResetsTheWatermark()
    {
        // A stolen release key pushed the hosts to sequence 1000 (fast-forward).
        _feed.Publish("1.0.0");
        var stolen = _feed.ReleaseKey;
        _feed.WriteManifest(_feed.Manifest(1000), stolen);
        using (var client = _feed.Client())
        {
            Assert.Equal(1000, (await client.CheckAsync(0, null, Ct)).Manifest!.Sequence);
        }

        // A root rotation that keeps the release key does not reset it.
        _feed.Rotate([_feed.RootKey]);
        _feed.WriteManifest(_feed.Manifest(3), stolen);
        using (var same = _feed.Client())
        {
            var e = await Assert.ThrowsAsync<BelayException>(() => same.CheckAsync(1000, null, Ct));
            Assert.Contains("lower than 1000", e.Message, StringComparison.Ordinal);
        }

        // The publisher rotates to a new release key: sequence 3 signed by it is accepted ...
        var fresh = MinisignSecretKey.Generate();
        _feed.Rotate([_feed.RootKey], releaseKeys: [fresh.PublicKey]);
        _feed.WriteManifest(_feed.Manifest(3), fresh);
        using (var reset = _feed.Client())
        {
            // ... even by a caller still holding 1000 in agent.json (a crash before it saved).
            var check = await reset.CheckAsync(1000, null, Ct);
            Assert.Equal(3, check.Manifest!.Sequence);
        }
        Assert.Equal(3, _feed.Trust!.ReleaseEpoch);
        Assert.Equal(3, _feed.Trust!.Sequence);

        // ... the stolen key's manifests are refused whatever their sequence ...
        _feed.WriteManifest(_feed.Manifest(2000), stolen);
        using (var attacker = _feed.Client())
        {
            var e = await Assert.ThrowsAsync<BelayException>(() => attacker.CheckAsync(3, null, Ct));
            Assert.Contains("not a release key listed in root.json", e.Message, StringComparison.Ordinal);
        }

        // ... and the watermark holds again from the new start.
        _feed.WriteManifest(_feed.Manifest(2), fresh);
        using var lower = _feed.Client();
        var refused = await Assert.ThrowsAsync<BelayException>(() => lower.CheckAsync(0, null, Ct));
        Assert.Contains("sequence 2, lower than 3", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APublishAfterAReleaseKeyRotationIsSignedByTheNewKey()
    {
        _feed.Publish("1.0.0");
        var fresh = MinisignSecretKey.Generate();
        _feed.Rotate([_feed.RootKey], releaseKeys: [fresh.PublicKey]);
        var old = _feed.ReleaseKey;
        var refused = Assert.Throws<BelayException>(() => _feed.Publish("1.1.0"));
        Assert.Contains("is not a release key of this feed", refused.Message, StringComparison.Ordinal);
        _feed.ReleaseKey = fresh;
        Assert.Equal(2, _feed.Publish("1.1.0").Sequence);
        Assert.NotEqual(old.PublicKey, fresh.PublicKey);
        using var client = _feed.Client();
        Assert.Equal(2, (await client.CheckAsync(0, null, Ct)).Manifest!.Sequence);
    }

    [Fact]
    public async Task OneInstantJudgesEveryExpiryInACheck()
    {
        // A clock that moves on every read: the check must still use the instant it started at.
        _feed.Publish("1.0.0");
        var manifest = _feed.Manifest(5, expiresIn: TimeSpan.FromMinutes(1));
        _feed.WriteManifest(manifest, _feed.ReleaseKey);
        var ticking = new TickingClock(_feed.Clock.GetUtcNow(), TimeSpan.FromMinutes(2));
        using var client = new FeedClient([_feed.Root], [_feed.RootKey.PublicKey], FeedLayout.DefaultProduct, "stable", false, ticking, trustFile: _feed.TrustFile);
        Assert.Equal(5, (await client.CheckAsync(0, null, Ct)).Manifest!.Sequence);
        Assert.Equal(1, ticking.Reads);
    }

    [Fact]
    public async Task AnExpiredManifestIsStaleAndSoIsAnUnchangedOneThatExpiredSinceItVerified()
    {
        _feed.Publish("1.0.0");
        using var client = _feed.Client();
        var first = await client.CheckAsync(0, null, Ct);
        var etag = first.ETag;
        Assert.NotNull(etag);
        Assert.True((await client.CheckAsync(1, etag, Ct)).NotModified);

        _feed.Clock.Advance(TimeSpan.FromDays(31));
        // The feed says "not modified" (a frozen mirror): the manifest it re-asserts has expired.
        var e = await Assert.ThrowsAsync<StaleMetadataException>(() => client.CheckAsync(1, etag, Ct));
        Assert.Contains("still answers 'not modified'", e.Message, StringComparison.Ordinal);
        using var fresh = _feed.Client();
        var full = await Assert.ThrowsAsync<StaleMetadataException>(() => fresh.CheckAsync(1, null, Ct));
        Assert.Contains("expired at", full.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AManifestForAnotherProductOrChannelIsRefused()
    {
        _feed.Publish("1.0.0");
        _feed.WriteManifest(_feed.Manifest(9, product: "other-agent"), _feed.ReleaseKey);
        using var client = _feed.Client();
        var e = await Assert.ThrowsAsync<BelayException>(() => client.CheckAsync(0, null, Ct));
        Assert.Contains("it is for product 'other-agent', not 'belay-agent'", e.Message, StringComparison.Ordinal);

        // beta's validly signed manifest served as stable.
        _feed.WriteManifest(_feed.Manifest(9, channel: "beta"), _feed.ReleaseKey, channel: "stable");
        var c = await Assert.ThrowsAsync<BelayException>(() => client.CheckAsync(0, null, Ct));
        Assert.Contains("it is for channel 'beta', not 'stable'", c.Message, StringComparison.Ordinal);

        // A whole feed for another product (its root says so).
        using var wrongProduct = _feed.Client(product: "other-agent", trustFile: null);
        var p = await Assert.ThrowsAsync<BelayException>(() => wrongProduct.CheckAsync(0, null, Ct));
        Assert.Contains("is for product 'belay-agent', not 'other-agent'", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MirrorsAreTriedInTurnAndTheWorkingOneIsUsedForDownloads()
    {
        _feed.Publish("1.0.0");
        var missing = _feed.Combine("no-such-feed");
        using var client = _feed.Client(feeds: [missing, _feed.Root]);
        var check = await client.CheckAsync(0, null, Ct);
        Assert.Equal(1, check.Manifest!.Sequence);
        Assert.Equal(_feed.Root, check.Source.Location);
        var downloads = _feed.Combine("downloads");
        Directory.CreateDirectory(downloads);
        // The answering mirror loses the file: the download goes on with the next one.
        var artifact = check.Manifest.Releases[0].Artifacts["linux-x64"];
        var second = _feed.Combine("mirror2");
        CopyTree(_feed.Root, second);
        File.Delete(_feed.File(artifact.Path));
        using var mirrors = _feed.Client(feeds: [_feed.Root, second], trustFile: null);
        var c2 = await mirrors.CheckAsync(0, null, Ct);
        var file = await ArtifactDownloader.DownloadAsync(c2.Source, artifact, downloads, Ct);
        Assert.Equal(artifact.Size, new FileInfo(file).Length);
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }
        Directory.CreateDirectory(to);
        foreach (var f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(f, Path.Combine(to, Path.GetRelativePath(from, f)));
        }
    }

    private sealed class TickingClock(DateTimeOffset start, TimeSpan step) : TimeProvider
    {
        private DateTimeOffset _now = start;
        public int Reads { get; private set; }

        public override DateTimeOffset GetUtcNow()
        {
            Reads++;
            var now = _now;
            _now += step;
            return now;
        }
    }
}
