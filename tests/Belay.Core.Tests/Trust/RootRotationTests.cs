using Belay.Core.Feed;
using Belay.Core.Minisign;
using Belay.Core.Publishing;
using Belay.Core.Tests.Publishing;

namespace Belay.Core.Tests.Trust;

/// <summary>Root rotation: the chain of root versions, thresholds, the cap, and what a host persists.</summary>
public sealed class RootRotationTests : IDisposable
{
    private readonly TestFeed _feed = new();
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _feed.Dispose();

    /// <summary>Writes root version <paramref name="doc"/> signed by <paramref name="signers"/>, as a feed (or an attacker) could.</summary>
    private void ForgeRoot(RootDocument doc, params MinisignSecretKey[] signers)
    {
        var json = FeedJson.Serialize(doc);
        Directory.CreateDirectory(_feed.File("root"));
        File.WriteAllBytes(_feed.File(FeedLayout.RootVersionFile(doc.Version)), json);
        foreach (var key in signers)
        {
            File.WriteAllBytes(_feed.File(FeedLayout.RootKeySignature(doc.Version, key.PublicKey)), key.Sign(json).ToFileBytes());
        }
        File.WriteAllBytes(_feed.File("root.json.minisig"), signers[0].Sign(json).ToFileBytes());
        File.WriteAllBytes(_feed.File("root.json"), json);
    }

    private RootDocument NextRoot(long version, IEnumerable<MinisignSecretKey> rootKeys, int threshold = 1) => new()
    {
        Version = version,
        Expires = _feed.Clock.GetUtcNow() + TimeSpan.FromDays(365),
        Root = new KeyRole { Threshold = threshold, Keys = [.. rootKeys.Select(k => k.PublicKey.ToBase64())] },
        Release = new KeyRole { Threshold = 1, Keys = [_feed.ReleaseKey.PublicKey.ToBase64()] },
    };

    [Fact]
    public void AFailureAtAnyWriteOfARotationLeavesTheFeedAsItWas()
    {
        _feed.Publish("1.0.0");
        var before = FailingFeedFiles.Snapshot(_feed.Root);
        var newKey = MinisignSecretKey.Generate();
        RotateRequest Next(string feed) => new(feed, [_feed.RootKey, newKey], [newKey.PublicKey]);

        // Count the writes of a successful rotation in a copy (per-key signatures, root/2.json, root.json and its signature)...
        var counting = new FailingFeedFiles(failAt: int.MaxValue);
        var copy = _feed.Combine("copy");
        FailingFeedFiles.CopyDirectory(_feed.Root, copy);
        new FeedPublisher(_ => { }, _feed.Clock, counting).Rotate(Next(copy));
        Assert.True(counting.Writes >= 5, $"only {counting.Writes} writes counted");

        // ...then fail at each one in turn: the feed stays at root version 1, with nothing of version 2 left behind.
        for (var n = 1; n <= counting.Writes; n++)
        {
            var failing = new FailingFeedFiles(failAt: n);
            var e = Record.Exception(() => new FeedPublisher(_ => { }, _feed.Clock, failing).Rotate(Next(_feed.Root)));
            Assert.True(e is IOException or BelayException, $"write {n}: {e}");
            Assert.True(failing.Failed, $"write {n} did not fail");
            Assert.Equal(before, FailingFeedFiles.Snapshot(_feed.Root));
        }
        Assert.Equal(2, _feed.Publisher.Rotate(Next(_feed.Root)).Version);
    }

    [Fact]
    public async Task AHostFollowsARotationSignedByTheOldAndTheNewKey()
    {
        _feed.Publish("1.0.0");
        using (var client = _feed.Client())
        {
            Assert.Equal(1, (await client.CheckAsync(0, null, Ct)).Root!.Version);
        }
        var newKey = MinisignSecretKey.Generate();
        _feed.Rotate([_feed.RootKey, newKey], rootKeys: [newKey.PublicKey]);

        using var after = _feed.Client();
        var check = await after.CheckAsync(0, null, Ct);
        Assert.Equal(2, check.Root!.Version);
        Assert.Equal(1, check.Rotations);
        Assert.Equal(2, _feed.Trust!.RootVersion);
        Assert.True(File.Exists(_feed.File("root/2.json")));
        Assert.True(File.Exists(_feed.File($"root/2.json.{_feed.RootKey.PublicKey.KeyIdHex}.minisig")));
        Assert.True(File.Exists(_feed.File($"root/2.json.{newKey.PublicKey.KeyIdHex}.minisig")));
    }

    [Fact]
    public async Task AHostWithOnlyAnOldPinnedKeyWalksTheChainFromTheVersionItSigned()
    {
        _feed.Publish("1.0.0");
        var k2 = MinisignSecretKey.Generate();
        var k3 = MinisignSecretKey.Generate();
        _feed.Rotate([_feed.RootKey, k2], rootKeys: [k2.PublicKey]);
        _feed.Rotate([k2, k3], rootKeys: [k3.PublicKey]);

        // A binary built with the first root key, no trust.json yet: anchors on version 1, walks to 3.
        using var client = _feed.Client();
        var check = await client.CheckAsync(0, null, Ct);
        Assert.Equal(3, check.Root!.Version);
        Assert.Equal(3, _feed.Trust!.RootVersion);
    }

    [Fact]
    public async Task ARotationSignedOnlyByTheNewKeyIsRefusedAndTheTrustedRootStays()
    {
        _feed.Publish("1.0.0");
        using (var first = _feed.Client())
        {
            await first.CheckAsync(0, null, Ct);
        }
        var attacker = MinisignSecretKey.Generate();
        ForgeRoot(NextRoot(2, [attacker]), attacker);

        using var client = _feed.Client();
        var e = await Assert.ThrowsAsync<BelayException>(() => client.CheckAsync(0, null, Ct));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("the previous root's (version 1) root keys", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, _feed.Trust!.RootVersion);
    }

    [Fact]
    public async Task ARotationSignedOnlyByTheOldKeyIsRefused()
    {
        _feed.Publish("1.0.0");
        var unheld = MinisignSecretKey.Generate();
        ForgeRoot(NextRoot(2, [unheld]), _feed.RootKey);

        using var client = _feed.Client();
        var e = await Assert.ThrowsAsync<BelayException>(() => client.CheckAsync(0, null, Ct));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("its own root keys", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AThresholdOfTwoNeedsTwoOfTheOldKeysForTheNextRotation()
    {
        _feed.Publish("1.0.0");
        var a = MinisignSecretKey.Generate();
        var b = MinisignSecretKey.Generate();
        _feed.Rotate([_feed.RootKey, a, b], rootKeys: [a.PublicKey, b.PublicKey], threshold: 2);
        using (var client = _feed.Client())
        {
            Assert.Equal(2, (await client.CheckAsync(0, null, Ct)).Root!.Version);
        }

        // The publisher refuses to write a rotation one key of two signed ...
        var c = MinisignSecretKey.Generate();
        var refused = Assert.Throws<BelayException>(() => _feed.Rotate([a, c], rootKeys: [c.PublicKey], threshold: 1));
        Assert.Contains("fewer than the threshold of 2", refused.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_feed.File("root/3.json")));

        // ... and a host refuses one forged that way (on a mirror).
        var v2 = File.ReadAllBytes(_feed.File("root.json"));
        var v2Sig = File.ReadAllBytes(_feed.File("root.json.minisig"));
        ForgeRoot(NextRoot(3, [c]), a, c);
        using var after = _feed.Client();
        var e = await Assert.ThrowsAsync<BelayException>(() => after.CheckAsync(0, null, Ct));
        Assert.Contains("fewer than the threshold of 2", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, _feed.Trust!.RootVersion);

        // Both old keys: accepted (the publisher's own folder holds version 2 again).
        File.WriteAllBytes(_feed.File("root.json.minisig"), v2Sig);
        File.WriteAllBytes(_feed.File("root.json"), v2);
        foreach (var forged in Directory.EnumerateFiles(_feed.File("root"), "3.json*"))
        {
            File.Delete(forged);
        }
        _feed.Rotate([a, b, c], rootKeys: [c.PublicKey], threshold: 1);
        using var good = _feed.Client();
        Assert.Equal(3, (await good.CheckAsync(0, null, Ct)).Root!.Version);
    }

    [Fact]
    public async Task ARootThatSkipsAVersionIsRefused()
    {
        var v1 = File.ReadAllBytes(_feed.File("root/1.json"));
        var json = FeedJson.Serialize(NextRoot(3, [_feed.RootKey]));
        File.WriteAllBytes(_feed.File("root/2.json"), json);
        File.WriteAllBytes(_feed.File($"root/2.json.{_feed.RootKey.PublicKey.KeyIdHex}.minisig"), _feed.RootKey.Sign(json).ToFileBytes());
        File.WriteAllBytes(_feed.File("root.json"), json);
        File.WriteAllBytes(_feed.File("root.json.minisig"), _feed.RootKey.Sign(json).ToFileBytes());
        using var source = new DirectoryFeedSource(_feed.Root);
        var trusted = new TrustedRoot(RootTrust.Parse(v1, "root/1.json"), v1);
        var e = await Assert.ThrowsAsync<BelayException>(() => RootChain.UpdateAsync(source, trusted, [_feed.RootKey.PublicKey], 0, _feed.Clock.GetUtcNow(), 10, Ct));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("expected root version 2, got 3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AHostFollowsAtMostTheCapOfRotationsPerCheckAndGoesOnAtTheNext()
    {
        _feed.Publish("1.0.0");
        using (var first = _feed.Client())
        {
            await first.CheckAsync(0, null, Ct);
        }
        var key = _feed.RootKey;
        for (var i = 0; i < 4; i++)
        {
            var next = MinisignSecretKey.Generate();
            _feed.Rotate([key, next], rootKeys: [next.PublicKey]);
            key = next;
        }
        using var client = _feed.Client(maxRotations: 2);
        var e = await Assert.ThrowsAsync<BelayException>(() => client.CheckAsync(0, null, Ct));
        Assert.Contains("followed 2 root rotation(s) to version 3 of 5", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, _feed.Trust!.RootVersion);
        var check = await client.CheckAsync(0, null, Ct);
        Assert.Equal(5, check.Root!.Version);
        Assert.Equal(2, check.Rotations);
    }

    [Fact]
    public async Task AStaleMirrorWithAnOlderRootDoesNotRollTheTrustedRootBack()
    {
        _feed.Publish("1.0.0");
        var oldRoot = File.ReadAllBytes(_feed.File("root.json"));
        var oldSig = File.ReadAllBytes(_feed.File("root.json.minisig"));
        _feed.Rotate([_feed.RootKey], expiresIn: TimeSpan.FromDays(400));
        using (var client = _feed.Client())
        {
            Assert.Equal(2, (await client.CheckAsync(0, null, Ct)).Root!.Version);
        }
        File.WriteAllBytes(_feed.File("root.json"), oldRoot);
        File.WriteAllBytes(_feed.File("root.json.minisig"), oldSig);
        _feed.Publish("1.1.0");
        using var again = _feed.Client();
        Assert.Equal(2, (await again.CheckAsync(0, null, Ct)).Root!.Version);
        Assert.Equal(2, _feed.Trust!.RootVersion);
    }

    [Fact]
    public async Task AFeedWithoutVersionedRootsStillWorksAndRotatesCleanly()
    {
        // A feed written before root/<N>.json existed: only root.json and root.json.minisig.
        Directory.Delete(_feed.File("root"), recursive: true);
        _feed.Publish("1.0.0");
        using (var client = _feed.Client())
        {
            Assert.Equal(1, (await client.CheckAsync(0, null, Ct)).Root!.Version);
        }
        var k2 = MinisignSecretKey.Generate();
        _feed.Rotate([_feed.RootKey, k2], rootKeys: [k2.PublicKey]);
        Assert.True(File.Exists(_feed.File("root/1.json")), "rotate keeps version 1 where walking hosts find it");
        File.Delete(_feed.TrustFile);
        using var fresh = _feed.Client();
        Assert.Equal(2, (await fresh.CheckAsync(0, null, Ct)).Root!.Version);
    }

    [Fact]
    public async Task OtherPinnedKeysIgnoreTheTrustRecordAndAnchorAgain()
    {
        _feed.Publish("1.0.0");
        using (var client = _feed.Client())
        {
            await client.CheckAsync(0, null, Ct);
        }
        var other = MinisignSecretKey.Generate();
        using var stranger = _feed.Client(pinned: [other.PublicKey]);
        var e = await Assert.ThrowsAsync<BelayException>(() => stranger.CheckAsync(0, null, Ct));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("which is not a trusted root key", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AChangedRootSignedByATrustedKeyIsCalledChangedNotSignedByAnUntrustedKey()
    {
        _feed.Publish("1.0.0");
        var root = _feed.File("root.json");
        File.WriteAllText(root, File.ReadAllText(root).Replace("\"version\": 1", "\"version\": 1 ", StringComparison.Ordinal));
        File.Delete(_feed.TrustFile);
        using var client = _feed.Client();
        var e = await Assert.ThrowsAsync<BelayException>(() => client.CheckAsync(0, null, Ct));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains($"names trusted root key {_feed.RootKey.PublicKey.KeyIdHex} but does not verify", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("not a trusted root key", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheRootThresholdMustBeBetweenOneAndTheKeyCount()
    {
        var doc = NextRoot(1, [_feed.RootKey], threshold: 2);
        var e = Assert.Throws<BelayException>(() => RootTrust.Parse(FeedJson.Serialize(doc), "root.json"));
        Assert.Contains("root threshold 2 must be between 1 and the 1 root key(s)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnExpiredRootIsReportedAsStale()
    {
        _feed.Publish("1.0.0");
        _feed.Clock.Advance(TimeSpan.FromDays(366));
        using var client = _feed.Client();
        var e = await Assert.ThrowsAsync<StaleMetadataException>(() => client.CheckAsync(0, null, Ct));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("root version 1) expired", e.Message, StringComparison.Ordinal);
    }
}
