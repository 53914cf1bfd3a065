using System.Text;
using Belay.Core.Feed;
using Belay.Core.Install;
using Belay.Core.Minisign;
using Belay.Core.Publishing;
using Belay.TestSupport;

namespace Belay.Core.Tests.Trust;

/// <summary>A feed in a temporary folder, its keys, a fake clock and a host's trust file, for trust tests.</summary>
internal sealed class TestFeed : IDisposable
{
    private readonly TempDir _dir = new();

    public TestFeed()
    {
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(State);
        Publisher.Init(Root, RootKey, [ReleaseKey.PublicKey]);
    }

    public FakeClock Clock { get; } = new();
    public MinisignSecretKey RootKey { get; } = MinisignSecretKey.Generate();
    public MinisignSecretKey ReleaseKey { get; set; } = MinisignSecretKey.Generate();
    public List<string> Log { get; } = [];
    public string Root => _dir.Combine("feed");
    public string State => _dir.Combine("state");
    public string TrustFile => Path.Combine(State, "trust.json");
    public FeedPublisher Publisher => new(Log.Add, Clock);

    public string Combine(params string[] parts) => _dir.Combine(parts);

    public string File(string relative) => Path.Combine(Root, relative);

    /// <summary>Publishes <paramref name="version"/> with a linux-x64 archive whose bytes are <paramref name="content"/>.</summary>
    public ChannelManifest Publish(string version, byte[]? content = null, string rid = "linux-x64", string channel = "stable")
    {
        var archive = _dir.Combine($"in-{version}-{rid}{FeedLayout.ArchiveExtension(rid)}");
        System.IO.File.WriteAllBytes(archive, content ?? Encoding.UTF8.GetBytes("agent " + version + " " + rid));
        return Publisher.Publish(new PublishRequest(Root, channel, version, new Dictionary<string, string> { [rid] = archive },
            new Dictionary<string, string>(), ReleaseKey)).Manifest;
    }

    public FeedClient Client(IReadOnlyList<MinisignPublicKey>? pinned = null, string? trustFile = "", int maxRotations = RootTrust.DefaultMaxRotations,
        IReadOnlyList<string>? feeds = null, string product = FeedLayout.DefaultProduct, string channel = "stable") =>
        new(feeds ?? [Root], pinned ?? [RootKey.PublicKey], product, channel, allowInsecureHttp: false, Clock,
            trustFile: trustFile == "" ? TrustFile : trustFile)
        {
            MaxRotations = maxRotations,
        };

    /// <summary>Writes a channel manifest as given, signed by <paramref name="key"/>: what an attacker holding a release key could serve.</summary>
    public void WriteManifest(ChannelManifest manifest, MinisignSecretKey key, string channel = "stable")
    {
        var json = FeedJson.Serialize(manifest);
        var path = File(FeedLayout.ChannelFile(channel));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllBytes(path, json);
        System.IO.File.WriteAllBytes(path + ".minisig", key.Sign(json).ToFileBytes());
    }

    public ChannelManifest Manifest(long sequence, string channel = "stable", string product = FeedLayout.DefaultProduct, TimeSpan? expiresIn = null) => new()
    {
        Product = product,
        Channel = channel,
        Sequence = sequence,
        Expires = Clock.GetUtcNow() + (expiresIn ?? TimeSpan.FromDays(30)),
        Releases =
        [
            new ReleaseEntry
            {
                Version = "1.0.0",
                Artifacts = { ["linux-x64"] = new ArtifactEntry { Path = FeedLayout.AgentArchive("1.0.0", "linux-x64"), Sha256 = new string('a', 64), Size = 10 } },
            },
        ],
    };

    /// <summary>Rotates the root, signed by <paramref name="signers"/>.</summary>
    public RootDocument Rotate(IReadOnlyList<MinisignSecretKey> signers, IReadOnlyList<MinisignPublicKey>? rootKeys = null, int? threshold = null,
        IReadOnlyList<MinisignPublicKey>? releaseKeys = null, TimeSpan? expiresIn = null) =>
        Publisher.Rotate(new RotateRequest(Root, signers, rootKeys, threshold, releaseKeys, expiresIn));

    public TrustState? Trust => TrustState.TryLoad(TrustFile);

    public void Dispose() => _dir.Dispose();
}
