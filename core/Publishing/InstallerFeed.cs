using System.Security.Cryptography;
using Belay.Core.Feed;
using Belay.Core.Minisign;
using Belay.Core.Versioning;

namespace Belay.Core.Publishing;

/// <summary>
/// What install.sh and install.ps1 are generated from, read from a feed folder as a host would
/// trust it: root.json verified against the given root keys (or, when none are given, against
/// the root keys it lists), the channel's manifest against that root; then the bootstrappers of
/// its newest release for a set of RIDs, each file checked against the manifest's SHA-256 and size.
/// </summary>
internal sealed class InstallerFeed
{
    private InstallerFeed(string folder, string channel, ChannelManifest manifest, IReadOnlyList<MinisignPublicKey> rootKeys)
    {
        Folder = folder;
        Channel = channel;
        Manifest = manifest;
        RootKeys = rootKeys;
    }

    public string Folder { get; }
    public string Channel { get; }
    public ChannelManifest Manifest { get; }

    /// <summary>The root keys the scripts bake in: the ones given, else those of the verified root.json.</summary>
    public IReadOnlyList<MinisignPublicKey> RootKeys { get; }

    public static InstallerFeed Read(string feedDirectory, string channel, IReadOnlyList<MinisignPublicKey>? trustedRootKeys, DateTimeOffset now)
    {
        var feed = Path.GetFullPath(feedDirectory);
        var rootPath = Path.Combine(feed, FeedLayout.RootFile);
        if (!File.Exists(rootPath))
        {
            throw new BelayException($"{rootPath} not found: this is not a feed yet; create it with belay-release init --feed {feed}");
        }
        var rootJson = File.ReadAllBytes(rootPath);
        IReadOnlyList<MinisignPublicKey> keys = trustedRootKeys is { Count: > 0 }
            ? trustedRootKeys
            : [.. FeedJson.ParseRoot(rootJson, rootPath).Root.Keys.Select(k => MinisignPublicKey.TryParse(k, out var key, out _) ? key : null).OfType<MinisignPublicKey>()];
        var root = FeedTrust.VerifyRoot(rootJson, InstallScript.ReadSignature(rootPath), keys, now, rootPath);
        var rootKeys = trustedRootKeys is { Count: > 0 } ? trustedRootKeys : [.. root.Root.Keys.Select(MinisignPublicKey.Parse)];

        var channelPath = Path.Combine(feed, FeedLayout.ChannelFile(channel));
        if (!FeedLayout.IsValidChannel(channel) || !File.Exists(channelPath))
        {
            throw new BelayException($"channel {channel} has no manifest ({channelPath}); publish a release to it first, or name the channel with --channel");
        }
        var manifest = FeedTrust.VerifyManifest(File.ReadAllBytes(channelPath), InstallScript.ReadSignature(channelPath), root, channel, now: null, minimumSequence: 0, channelPath);
        return new InstallerFeed(feed, channel, manifest, rootKeys);
    }

    /// <summary>The newest release that carries a bootstrapper for any of <paramref name="rids"/>, or null.</summary>
    public ReleaseEntry? NewestWith(IReadOnlySet<string> rids) => Manifest.Releases
        .Where(r => r.Bootstrap is not null && r.Bootstrap.Keys.Any(rids.Contains))
        .OrderBy(r => SemVersion.Parse(r.Version))
        .LastOrDefault();

    /// <summary>
    /// The release's bootstrappers for <paramref name="rids"/>, in RID order, each file in the feed
    /// folder checked against the manifest (<paramref name="script"/> names what is being generated).
    /// </summary>
    public List<InstallScriptBuild> Builds(ReleaseEntry release, IReadOnlySet<string> rids, string script)
    {
        var builds = new List<InstallScriptBuild>();
        foreach (var (rid, entry) in release.Bootstrap!.Where(p => rids.Contains(p.Key)).OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var file = Path.Combine(Folder, entry.Path);
            if (!File.Exists(file))
            {
                throw new BelayException($"the bootstrapper for {rid} ({entry.Path}) is not in the feed folder {Folder}; restore it before generating {script}");
            }
            string sha;
            using (var stream = File.OpenRead(file))
            {
                sha = Convert.ToHexStringLower(SHA256.HashData(stream));
            }
            if (sha != entry.Sha256 || new FileInfo(file).Length != entry.Size)
            {
                throw BelayException.Trust($"{entry.Path} does not match channel {Channel}'s manifest (SHA-256 {sha}, manifest {entry.Sha256}): the feed folder was changed after publishing");
            }
            // The gzip copy publish writes beside it, when there is one (feeds published before it
            // existed have none): it must decompress to exactly this bootstrapper.
            var gzip = BootstrapGzip.IsFor(rid) && File.Exists(BootstrapGzip.PathOf(file))
                ? new BootstrapGzipCopy(BootstrapGzip.PathOf(entry.Path), BootstrapGzip.Verify(BootstrapGzip.PathOf(file), entry.Sha256, entry.Size), entry.Size)
                : null;
            builds.Add(new InstallScriptBuild(rid, entry.Path, entry.Sha256, gzip));
        }
        return builds;
    }
}
