using System.Text;
using Belay.Core.Deploy;
using Belay.Core.Feed;
using Belay.Core.Minisign;
using Belay.Core.Publishing;

namespace Belay.Core.Tests.Deploy;

/// <summary>The deploy role in root.json, and the checks a group document passes (core/Deploy/GroupTrust.cs).</summary>
public sealed class GroupTrustTests : IDisposable
{
    private readonly DeployFeed _feed = new();

    public void Dispose() => _feed.Dispose();

    private RootDocument Root => RootTrust.Parse(File.ReadAllBytes(_feed.File("root.json")), "root.json");

    private static (byte[] Json, byte[] Sig) Signed(GroupDocument document, MinisignSecretKey key)
    {
        var json = document.Serialize();
        return (json, key.Sign(json).ToFileBytes());
    }

    private GroupDocument Document(string group = "web", long sequence = 5, TimeSpan? expiresIn = null) => new()
    {
        Group = group,
        Sequence = sequence,
        Expires = _feed.Clock.GetUtcNow() + (expiresIn ?? TimeSpan.FromDays(30)),
        Apps = { ["shop"] = new DesiredApp { Version = "1.0", Artifacts = { ["any"] = new ArtifactEntry { Path = "apps/shop/1.0/shop-1.0-any.tar.gz", Sha256 = new string('b', 64), Size = 3 } } } },
    };

    private GroupFeedException Refused(GroupDocument document, MinisignSecretKey key, string group = "web", long minimum = 0)
    {
        var (json, sig) = Signed(document, key);
        return Assert.Throws<GroupFeedException>(() => GroupTrust.Verify(json, sig, Root, group, _feed.Clock.GetUtcNow(), minimum, "groups/web.json"));
    }

    [Fact]
    public void ADocumentSignedByADeployKeyForThisGroupVerifies()
    {
        var (json, sig) = Signed(Document(), _feed.DeployKey);
        var document = GroupTrust.Verify(json, sig, Root, "web", _feed.Clock.GetUtcNow(), 5, "groups/web.json");
        Assert.Equal(5, document.Sequence);
    }

    [Fact]
    public void ADocumentSignedByAReleaseKeyIsRefusedAndTheMessageSaysItIsAReleaseKey()
    {
        var e = Refused(Document(), _feed.ReleaseKey);
        Assert.Equal(GroupFeedFailure.Untrusted, e.Failure);
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains($"signed by key {_feed.ReleaseKey.PublicKey.KeyIdHex}, which is not a deploy key", e.Message, StringComparison.Ordinal);
        Assert.Contains("it is a release key, which signs channels only", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ADocumentSignedByTheRootKeyOrAStrangerIsRefused()
    {
        Assert.Contains("it is a root key", Refused(Document(), _feed.RootKey).Message, StringComparison.Ordinal);
        Assert.Equal(GroupFeedFailure.Untrusted, Refused(Document(), MinisignSecretKey.Generate()).Failure);
    }

    [Fact]
    public void ADeployKeyDoesNotVerifyAChannelManifest()
    {
        var manifest = new ChannelManifest
        {
            Channel = "stable",
            Sequence = 3,
            Expires = _feed.Clock.GetUtcNow().AddDays(1),
            Releases = [new ReleaseEntry { Version = "1.0.0", Artifacts = { ["linux-x64"] = new ArtifactEntry { Path = FeedLayout.AgentArchive("1.0.0", "linux-x64"), Sha256 = new string('a', 64), Size = 1 } } }],
        };
        var json = FeedJson.Serialize(manifest);
        var e = Assert.Throws<BelayException>(() =>
            FeedTrust.VerifyManifest(json, _feed.DeployKey.Sign(json).ToFileBytes(), Root, "stable", _feed.Clock.GetUtcNow(), 0, "channels/stable.json"));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("which is not a release key", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnotherGroupsDocumentValidlySignedIsRefused()
    {
        var e = Refused(Document(group: "staging"), _feed.DeployKey);
        Assert.Equal(GroupFeedFailure.WrongGroup, e.Failure);
        Assert.Contains("is the document of group 'staging', not of this host's group 'web'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnOlderSequenceThanSeenIsRefusedAsAReplay()
    {
        var e = Refused(Document(sequence: 4), _feed.DeployKey, minimum: 5);
        Assert.Equal(GroupFeedFailure.Replayed, e.Failure);
        Assert.Contains("sequence 4, lower than 5 already seen for group web", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnExpiredDocumentIsRefusedAsExpired()
    {
        var e = Refused(Document(expiresIn: TimeSpan.FromSeconds(-1)), _feed.DeployKey);
        Assert.Equal(GroupFeedFailure.Expired, e.Failure);
        Assert.Contains("expired at", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ABrokenFieldUnderAGoodSignatureIsInvalidNotTrusted()
    {
        var document = Document();
        document.Apps["shop"].State = "sideways";
        var e = Refused(document, _feed.DeployKey);
        Assert.Equal(GroupFeedFailure.Invalid, e.Failure);
        Assert.Contains("apps.shop.state", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ARootWithoutADeployRoleTrustsNoGroupDocumentAndSaysHowToAddOne()
    {
        using var bare = new DeployFeed(withDeployRole: false);
        var root = RootTrust.Parse(File.ReadAllBytes(bare.File("root.json")), "root.json");
        var json = Document().Serialize();
        var e = Assert.Throws<GroupFeedException>(() => GroupTrust.Verify(json, bare.DeployKey.Sign(json).ToFileBytes(), root, "web", null, 0, "groups/web.json"));
        Assert.Equal(GroupFeedFailure.Untrusted, e.Failure);
        Assert.Contains("lists no deploy keys", e.Message, StringComparison.Ordinal);
        Assert.Contains("root rotate --deploy-key", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ARootWithoutADeployRoleIsWrittenAsBeforeTheRoleExisted()
    {
        using var bare = new DeployFeed(withDeployRole: false);
        Assert.DoesNotContain("deploy", File.ReadAllText(bare.File("root.json")), StringComparison.Ordinal);
        Assert.Contains("\"deploy\"", File.ReadAllText(_feed.File("root.json")), StringComparison.Ordinal);
    }

    [Fact]
    public void AKeyInTwoRolesIsRefusedByInitAndByTheHost()
    {
        var feed = _feed.Combine("two-roles");
        Directory.CreateDirectory(feed);
        var e = Assert.Throws<BelayException>(() => _feed.Publisher.Init(feed, _feed.RootKey, [_feed.ReleaseKey.PublicKey], deployKeys: [_feed.ReleaseKey.PublicKey]));
        Assert.Contains("is both a release key and a deploy key", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(feed, "root.json")));

        var root = new RootDocument
        {
            Expires = _feed.Clock.GetUtcNow().AddDays(1),
            Root = new KeyRole { Keys = [_feed.RootKey.PublicKey.ToBase64()] },
            Release = new KeyRole { Keys = [_feed.ReleaseKey.PublicKey.ToBase64()] },
            Deploy = new KeyRole { Keys = [_feed.RootKey.PublicKey.ToBase64()] },
        };
        var host = Assert.Throws<BelayException>(() => RootTrust.Parse(FeedJson.Serialize(root), "root.json"));
        Assert.Contains("is both a root key and a deploy key", host.Message, StringComparison.Ordinal);
        root.Deploy = new KeyRole { Threshold = 2, Keys = [_feed.DeployKey.PublicKey.ToBase64()] };
        Assert.Contains("deploy threshold of 2 is not supported", Assert.Throws<BelayException>(() => RootTrust.Parse(FeedJson.Serialize(root), "root.json")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ARotationAddsTheDeployRoleKeepsItAndChangesIt()
    {
        using var bare = new DeployFeed(withDeployRole: false);
        var added = bare.Rotate(deployKeys: [bare.DeployKey.PublicKey]);
        Assert.Equal([bare.DeployKey.PublicKey], FeedTrust.DeployKeys(added));
        var kept = bare.Rotate();
        Assert.True(RootTrust.SameRole(added.Deploy, kept.Deploy));
        Assert.False(RootTrust.DeployRoleChanged(added, kept));
        var other = MinisignSecretKey.Generate();
        var changed = bare.Rotate(deployKeys: [other.PublicKey]);
        Assert.True(RootTrust.DeployRoleChanged(kept, changed));
        Assert.Contains(bare.Log, l => l.Contains("the deploy keys changed", StringComparison.Ordinal));
    }
}
