using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Belay.Core.Archives;
using Belay.Core.Feed;
using Belay.Core.Minisign;
using Belay.Core.Versioning;
using Belay.Core.IO;

namespace Belay.Core.Publishing;

/// <summary>What `belay-release publish` is asked to do.</summary>
public sealed record PublishRequest(
    string FeedDirectory,
    string Channel,
    string Version,
    IReadOnlyDictionary<string, string> Artifacts,
    IReadOnlyDictionary<string, string> Bootstrap,
    MinisignSecretKey Key,
    int RolloutPercent = 100,
    TimeSpan? ExpiresIn = null,
    bool AllowNotNewer = false);

public sealed record PublishResult(ChannelManifest Manifest, IReadOnlyList<string> WrittenFiles);

/// <summary>
/// Writes feeds. Init creates root.json; Publish adds a release to a channel:
/// <list type="number">
/// <item>check everything first (root, key, existing manifest, version, files, writability), writing nothing;</item>
/// <item>copy each artifact to its versioned path and sign it (new files only: a published artifact is immutable);</item>
/// <item>write the channel manifest with sequence + 1 and a new expiry, signature first, then the JSON.</item>
/// </list>
/// A failure at any step deletes what this publish created and restores the manifest, so
/// the feed is left as it was. (A process killed mid-publish can leave unreferenced new
/// artifact files behind, never a changed manifest: clients only follow the manifest.)
/// </summary>
public sealed partial class FeedPublisher
{
    /// <summary>How long a channel manifest is believed when the publisher does not say.</summary>
    public static readonly TimeSpan DefaultManifestLifetime = TimeSpan.FromDays(30);

    /// <summary>How long root.json is believed when the publisher does not say.</summary>
    public static readonly TimeSpan DefaultRootLifetime = TimeSpan.FromDays(365);

    private readonly IFeedFiles _files;
    private readonly TimeProvider _clock;
    private readonly Action<string> _log;

    public FeedPublisher(Action<string> log, TimeProvider? clock = null, IFeedFiles? files = null)
    {
        _log = log;
        _clock = clock ?? TimeProvider.System;
        _files = files ?? FeedFiles.Instance;
    }

    /// <summary>
    /// Creates (or with <paramref name="force"/> replaces) root.json, signed by <paramref name="rootKey"/>,
    /// listing <paramref name="releaseKeys"/> and, when given, the <paramref name="deployKeys"/> that sign group documents.
    /// </summary>
    public RootDocument Init(string feedDirectory, MinisignSecretKey rootKey, IReadOnlyList<MinisignPublicKey> releaseKeys,
        TimeSpan? expiresIn = null, string product = FeedLayout.DefaultProduct, bool force = false, IReadOnlyList<MinisignPublicKey>? deployKeys = null)
    {
        ArgumentNullException.ThrowIfNull(rootKey);
        ArgumentNullException.ThrowIfNull(releaseKeys);
        if (releaseKeys.Count == 0)
        {
            throw new BelayException(ExitCodes.Usage, "init needs at least one release key (--release-key release.pub)");
        }
        var rootPath = Path.Combine(feedDirectory, FeedLayout.RootFile);
        long version = 1;
        if (_files.Exists(rootPath))
        {
            if (!force)
            {
                throw new BelayException($"{rootPath} already exists; this feed is initialised. Use --force to re-sign it (clients that pinned another root key will refuse it)");
            }
            var old = FeedJson.ParseRoot(_files.ReadAllBytes(rootPath), rootPath);
            version = old.Version + 1;
        }
        EnsureWritable(feedDirectory);
        var root = new RootDocument
        {
            Product = product,
            Version = version,
            Expires = Truncate(_clock.GetUtcNow() + (expiresIn ?? DefaultRootLifetime)),
            Root = new KeyRole { Threshold = 1, Keys = [rootKey.PublicKey.ToBase64()] },
            Release = new KeyRole { Threshold = 1, Keys = [.. releaseKeys.Select(k => k.ToBase64()).Distinct(StringComparer.Ordinal)] },
            Deploy = deployKeys is { Count: > 0 } ? new KeyRole { Threshold = 1, Keys = [.. deployKeys.Select(k => k.ToBase64()).Distinct(StringComparer.Ordinal)] } : null,
        };
        var json = FeedJson.Serialize(root);
        // The host's own check of the shape (a key in two roles, say) before anything is written.
        RootTrust.Parse(json, rootPath);
        // The versioned copy and its per-key signature first, so that hosts can walk the chain later.
        var versioned = Path.Combine(feedDirectory, FeedLayout.RootVersionFile(version));
        CreateDirectories(Path.GetFullPath(feedDirectory), Path.GetDirectoryName(Path.GetFullPath(versioned))!, []);
        _files.WriteAtomically(versioned, json);
        _files.WriteAtomically(Path.Combine(feedDirectory, FeedLayout.RootKeySignature(version, rootKey.PublicKey)),
            rootKey.Sign(json, TrustedComment(FeedLayout.RootVersionFile(version), $"root version {version}")).ToFileBytes());
        WriteSigned(rootPath, json, rootKey, FeedLayout.RootFile, $"root version {version}");
        _log($"wrote {rootPath} (version {version}, root key {rootKey.PublicKey.KeyIdHex}, release keys {string.Join(", ", releaseKeys.Select(k => k.KeyIdHex))}" +
            (deployKeys is { Count: > 0 } ? $", deploy keys {string.Join(", ", deployKeys.Select(k => k.KeyIdHex))}" : "") + $", expires {root.Expires:u})");
        return root;
    }

    public PublishResult Publish(PublishRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var feed = Path.GetFullPath(request.FeedDirectory);
        var now = _clock.GetUtcNow();

        // 1. Check everything before writing anything.
        var root = LoadRoot(feed, now);
        CheckReleaseKey(root, request.Key);
        if (!FeedLayout.IsValidChannel(request.Channel))
        {
            throw new BelayException(ExitCodes.Usage, $"'{request.Channel}' is not a channel name: use lower-case letters, digits, '-', '_' and '.'");
        }
        if (!SemVersion.TryParse(request.Version, out var version, out var versionError))
        {
            throw new BelayException(ExitCodes.Usage, versionError);
        }
        if (request.RolloutPercent is < 0 or > 100)
        {
            throw new BelayException(ExitCodes.Usage, $"rollout {request.RolloutPercent} is not a percentage from 0 to 100");
        }
        if (request.Artifacts.Count == 0)
        {
            throw new BelayException(ExitCodes.Usage, "publish needs at least one --artifact RID=PATH");
        }
        var channelPath = Path.Combine(feed, FeedLayout.ChannelFile(request.Channel));
        var previous = LoadManifest(channelPath, root, request.Channel);
        CheckVersionIsNew(previous, version, request);

        var plan = new List<(string Kind, string Rid, string Source, string Relative)>();
        foreach (var (rid, source) in request.Artifacts.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            CheckRid(rid);
            var expected = FeedLayout.ArchiveExtension(rid);
            if (!source.EndsWith(expected, StringComparison.OrdinalIgnoreCase))
            {
                throw new BelayException(ExitCodes.Usage, $"artifact for {rid} must be a {expected} archive, got {source} (build it with belay-release package)");
            }
            plan.Add(("agent", rid, source, FeedLayout.AgentArchive(request.Version, rid)));
            // The compact form belay-release package writes beside the archive, when it is there (docs/feed.md).
            if (ArchiveBuilder.CompactPathOf(source, rid) is { } compactSource && File.Exists(compactSource))
            {
                plan.Add(("compact", rid, compactSource, FeedLayout.AgentCompactArchive(request.Version, rid)!));
            }
            else if (FeedLayout.AgentCompactArchive(request.Version, rid) is not null)
            {
                _log($"no compact form beside {source} (belay-release package writes one); hosts will download the {expected}");
            }
        }
        foreach (var (rid, source) in request.Bootstrap.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            CheckRid(rid);
            plan.Add(("bootstrap", rid, source, FeedLayout.BootstrapBinary(request.Version, rid)));
        }
        foreach (var item in plan)
        {
            if (!File.Exists(item.Source))
            {
                throw new BelayException($"{item.Kind} file for {item.Rid} not found: {item.Source}");
            }
            var target = Path.Combine(feed, item.Relative);
            if (item.Kind == "compact")
            {
                // A host that reads the compact form must get exactly what one that reads the .tar.gz gets. One already
                // published (the same version in another channel) stays as it is when it holds that tar, even if this
                // package compressed it otherwise (--compact fast, another Brotli).
                var archive = plan.Single(p => p.Kind == "agent" && p.Rid == item.Rid).Source;
                CompactArchive.CheckSameTar(archive, _files.Exists(target) ? target : item.Source);
            }
            else if (_files.Exists(target) && !SameContent(item.Source, target))
            {
                throw new BelayException($"{target} already exists with other content; a published file is never replaced (caches and hosts may hold it). Publish a new version instead");
            }
        }
        EnsureWritable(feed);

        // 2. Artifacts and their signatures; 3. the manifest. Undo on any failure.
        var written = new Written(this, feed);
        try
        {
            var release = new ReleaseEntry
            {
                Version = request.Version,
                Published = Truncate(now),
                Rollout = new Rollout { Percent = request.RolloutPercent },
            };
            var sums = new StringBuilder();
            foreach (var item in plan)
            {
                var target = Path.Combine(feed, item.Relative);
                written.Folder(Path.GetDirectoryName(target)!);
                ArtifactEntry entry;
                if (_files.Exists(target))
                {
                    entry = Describe(item.Relative, target);
                }
                else
                {
                    var (sha, size) = _files.CopyAtomically(item.Source, target);
                    written.File(target);
                    entry = new ArtifactEntry { Path = item.Relative, Sha256 = sha, Size = size };
                }
                SignOnce(target, item.Relative, request.Key, $"{item.Kind} {request.Version} {item.Rid}", written);
                if (item.Kind == "agent")
                {
                    release.Artifacts[item.Rid] = entry;
                }
                else if (item.Kind == "compact")
                {
                    release.Artifacts[item.Rid].Compact = entry;
                }
                else
                {
                    (release.Bootstrap ??= [])[item.Rid] = entry;
                    sums.Append(CultureInfo.InvariantCulture, $"{entry.Sha256}  {Path.GetFileName(item.Relative)}\n");
                }
                _log($"wrote {item.Relative} ({entry.Size} bytes, sha256 {entry.Sha256})");
                if (item.Kind == "bootstrap" && BootstrapGzip.IsFor(item.Rid))
                {
                    WriteBootstrapGzip(item.Relative, target, item.Rid, request, written, sums);
                }
            }
            if (release.Bootstrap is not null)
            {
                var sumsPath = Path.Combine(feed, FeedLayout.BootstrapChecksums(request.Version));
                var sumsBytes = Encoding.UTF8.GetBytes(sums.ToString());
                if (!_files.Exists(sumsPath))
                {
                    _files.WriteAtomically(sumsPath, sumsBytes);
                    written.File(sumsPath);
                    var sumsSig = request.Key.Sign(sumsBytes, TrustedComment(FeedLayout.BootstrapChecksums(request.Version), $"bootstrap {request.Version}"));
                    _files.WriteAtomically(sumsPath + FeedLayout.SignatureSuffix, Encoding.UTF8.GetBytes(sumsSig.ToFileText()));
                    written.File(sumsPath + FeedLayout.SignatureSuffix);
                }
            }

            var manifest = new ChannelManifest
            {
                Product = root.Product,
                Channel = request.Channel,
                Sequence = (previous?.Sequence ?? 0) + 1,
                Expires = Truncate(now + (request.ExpiresIn ?? DefaultManifestLifetime)),
                Releases = [.. (previous?.Releases ?? []).Append(release).OrderBy(r => SemVersion.Parse(r.Version))],
            };
            written.Folder(Path.GetDirectoryName(channelPath)!);
            WriteManifest(channelPath, manifest, request.Key);
            _log($"wrote {FeedLayout.ChannelFile(request.Channel)} (sequence {manifest.Sequence}, expires {manifest.Expires:u}, {manifest.Releases.Count} release(s), newest {request.Version} at {request.RolloutPercent}%)");
            return new PublishResult(manifest, written.Files);
        }
        catch
        {
            written.Undo();
            throw;
        }
    }

    /// <summary>
    /// Re-signs a channel with the same releases, sequence + 1 and a new expiry: what a
    /// publisher runs (say, daily from cron) so that hosts never see an expired manifest.
    /// </summary>
    public ChannelManifest Refresh(string feedDirectory, string channel, MinisignSecretKey key, TimeSpan? expiresIn = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        var feed = Path.GetFullPath(feedDirectory);
        var now = _clock.GetUtcNow();
        var root = LoadRoot(feed, now);
        CheckReleaseKey(root, key);
        var channelPath = Path.Combine(feed, FeedLayout.ChannelFile(channel));
        var previous = LoadManifest(channelPath, root, channel)
            ?? throw new BelayException($"channel {channel} has no manifest yet ({channelPath}); publish a release to it first");
        var manifest = new ChannelManifest
        {
            Product = previous.Product,
            Channel = previous.Channel,
            Sequence = previous.Sequence + 1,
            Expires = Truncate(now + (expiresIn ?? DefaultManifestLifetime)),
            Releases = previous.Releases,
        };
        WriteManifest(channelPath, manifest, key);
        _log($"wrote {FeedLayout.ChannelFile(channel)} (sequence {manifest.Sequence}, expires {manifest.Expires:u}, {manifest.Releases.Count} release(s), unchanged)");
        return manifest;
    }

    private void WriteManifest(string channelPath, ChannelManifest manifest, MinisignSecretKey key) =>
        WriteSigned(channelPath, FeedJson.Serialize(manifest), key, FeedLayout.ChannelFile(manifest.Channel), $"sequence {manifest.Sequence}");

    /// <summary>
    /// Writes a signed document, signature first, then the JSON (each atomically); on failure
    /// both are put back as they were. Between the two renames a reader can see a new
    /// signature beside the old JSON: it fails verification and retries, never trusts a mix.
    /// </summary>
    /// <summary>Signs a file of the feed (FILE.minisig) unless it already has its signature: republishing leaves both as they are.</summary>
    private void SignOnce(string target, string relative, MinisignSecretKey key, string what, Written written)
    {
        var sigPath = target + FeedLayout.SignatureSuffix;
        if (_files.Exists(sigPath))
        {
            return;
        }
        MinisignSignature sig;
        using (var stream = File.OpenRead(target))
        {
            sig = key.Sign(stream, TrustedComment(relative, what));
        }
        _files.WriteAtomically(sigPath, Encoding.UTF8.GetBytes(sig.ToFileText()));
        written.File(sigPath);
    }

    private void WriteSigned(string path, byte[] json, MinisignSecretKey key, string relative, string what)
    {
        var signature = key.Sign(json, TrustedComment(relative, what));
        var sigPath = path + FeedLayout.SignatureSuffix;
        var oldJson = _files.Exists(path) ? _files.ReadAllBytes(path) : null;
        var oldSig = _files.Exists(sigPath) ? _files.ReadAllBytes(sigPath) : null;
        try
        {
            _files.WriteAtomically(sigPath, Encoding.UTF8.GetBytes(signature.ToFileText()));
            _files.WriteAtomically(path, json);
        }
        catch
        {
            Restore(sigPath, oldSig);
            Restore(path, oldJson);
            throw;
        }
    }

    private static void CheckReleaseKey(RootDocument root, MinisignSecretKey key)
    {
        var releaseKeys = FeedTrust.ReleaseKeys(root);
        if (root.Deploy is { } deploy && deploy.Keys.Contains(key.PublicKey.ToBase64(), StringComparer.Ordinal))
        {
            throw BelayException.Trust($"key {key.PublicKey.KeyIdHex} is a deploy key of this feed: it signs group documents (belay-release deploy), never a channel. Sign with a release key ({string.Join(", ", releaseKeys.Select(k => k.KeyIdHex))})");
        }
        if (!releaseKeys.Contains(key.PublicKey))
        {
            throw BelayException.Trust($"key {key.PublicKey.KeyIdHex} is not a release key of this feed (root.json lists {string.Join(", ", releaseKeys.Select(k => k.KeyIdHex))}); sign with a listed release key, or re-run belay-release init with --release-key for this one");
        }
    }

    private RootDocument LoadRoot(string feed, DateTimeOffset? now)
    {
        var rootPath = Path.Combine(feed, FeedLayout.RootFile);
        if (!Directory.Exists(feed))
        {
            throw new BelayException($"feed directory {feed} does not exist; create it with belay-release init --feed {feed}");
        }
        if (!_files.Exists(rootPath))
        {
            throw new BelayException($"{rootPath} not found: this is not a feed yet; create it with belay-release init --feed {feed}");
        }
        var json = _files.ReadAllBytes(rootPath);
        var sigPath = rootPath + FeedLayout.SignatureSuffix;
        if (!_files.Exists(sigPath))
        {
            throw BelayException.Trust($"{sigPath} not found: root.json is unsigned; re-create it with belay-release init --force");
        }
        // The publisher has no pinned key of its own: root must at least be signed by a
        // threshold of the root keys it lists (root.json.minisig and root/<N>.json.<KEYID>.minisig),
        // and current unless the caller renews it.
        var unverified = RootTrust.Parse(json, rootPath);
        var listed = RootTrust.RootKeys(unverified, rootPath);
        List<byte[]> signatures = [_files.ReadAllBytes(sigPath)];
        foreach (var key in listed)
        {
            var perKey = Path.Combine(feed, FeedLayout.RootKeySignature(unverified.Version, key));
            if (_files.Exists(perKey))
            {
                signatures.Add(_files.ReadAllBytes(perKey));
            }
        }
        var root = RootTrust.VerifyAnchor(json, signatures, listed, rootPath);
        if (now is { } at)
        {
            RootTrust.CheckCurrent(root, at, rootPath);
        }
        return root;
    }

    private ChannelManifest? LoadManifest(string channelPath, RootDocument root, string channel)
    {
        if (!_files.Exists(channelPath))
        {
            return null;
        }
        var sigPath = channelPath + FeedLayout.SignatureSuffix;
        if (!_files.Exists(sigPath))
        {
            throw BelayException.Trust($"{sigPath} not found: the channel manifest is unsigned; restore it from a backup before publishing");
        }
        var sig = _files.ReadAllBytes(sigPath);
        // Not judged for expiry: publishing is how an expired channel is renewed. After a rotation
        // of the release keys the previous manifest is still signed by an older root's release
        // key: the publisher's own folder holds those roots, so they are accepted for reading it.
        var readable = new RootDocument
        {
            Product = root.Product,
            Version = root.Version,
            Expires = root.Expires,
            Root = root.Root,
            Release = new KeyRole { Threshold = 1, Keys = [.. root.Release.Keys.Concat(OlderRoleKeys(Path.GetDirectoryName(Path.GetDirectoryName(channelPath)!)!, root, r => r.Release)).Distinct(StringComparer.Ordinal)] },
        };
        return FeedTrust.VerifyManifest(_files.ReadAllBytes(channelPath), sig, readable, channel, now: null, minimumSequence: 0, channelPath);
    }

    /// <summary>The keys of one role in every older root the publisher's folder keeps (to read documents signed before a rotation).</summary>
    private IEnumerable<string> OlderRoleKeys(string feed, RootDocument root, Func<RootDocument, KeyRole?> role)
    {
        for (var v = root.Version - 1; v >= 1; v--)
        {
            var path = Path.Combine(feed, FeedLayout.RootVersionFile(v));
            if (!_files.Exists(path))
            {
                yield break;
            }
            foreach (var key in role(RootTrust.Parse(_files.ReadAllBytes(path), path))?.Keys ?? [])
            {
                yield return key;
            }
        }
    }

    private static void CheckVersionIsNew(ChannelManifest? previous, SemVersion version, PublishRequest request)
    {
        if (previous is null || previous.Releases.Count == 0)
        {
            return;
        }
        if (previous.Releases.Any(r => SemVersion.Parse(r.Version) == version))
        {
            throw new BelayException($"version {request.Version} is already published on channel {request.Channel}; a release is never replaced, publish a new version");
        }
        var newest = previous.Releases.Select(r => SemVersion.Parse(r.Version)).Max()!;
        if (version < newest && !request.AllowNotNewer)
        {
            throw new BelayException($"version {request.Version} is not newer than {newest}, the newest on channel {request.Channel}; hosts would not move to it. Use --allow-older to publish it anyway");
        }
    }

    private static void CheckRid(string rid)
    {
        if (!FeedLayout.IsValidRid(rid))
        {
            throw new BelayException(ExitCodes.Usage, $"'{rid}' is not a runtime identifier (like linux-x64, linux-musl-arm64, osx-arm64, win-x64, illumos-x64)");
        }
    }

    private static void EnsureWritable(string directory)
    {
        // A probe, not a feed change: it removes itself when closed, whatever happens.
        var probe = Path.Combine(directory, $".belay-write-probe-{Guid.NewGuid():N}");
        try
        {
            using var _ = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException($"cannot write to feed directory {directory}: {SystemErrors.Describe(e)}. Check its owner and mode, or publish as a user who may write there", e);
        }
    }

    private void CreateDirectories(string feed, string directory, List<string> createdDirs)
    {
        var missing = new Stack<string>();
        for (var d = directory; d.Length > feed.Length && !Directory.Exists(d); d = Path.GetDirectoryName(d)!)
        {
            missing.Push(d);
        }
        foreach (var d in missing)
        {
            _files.CreateDirectory(d);
            createdDirs.Add(d);
        }
    }

    /// <summary>
    /// The gzip copy of a bootstrapper beside it (what install.sh downloads), signed and listed in
    /// SHA256SUMS; not in the manifest: install.sh pins its SHA-256, and belay-release installers
    /// checks that it decompresses to the bootstrapper the manifest binds. An existing copy is kept.
    /// </summary>
    private void WriteBootstrapGzip(string relative, string target, string rid, PublishRequest request, Written written, StringBuilder sums)
    {
        var gzRelative = BootstrapGzip.PathOf(relative);
        var gzTarget = BootstrapGzip.PathOf(target);
        if (!_files.Exists(gzTarget))
        {
            _files.WriteAtomically(gzTarget, BootstrapGzip.Compress(target));
            written.File(gzTarget);
        }
        var (sha, size) = (Sha256Of(gzTarget), new FileInfo(gzTarget).Length);
        SignOnce(gzTarget, gzRelative, request.Key, $"bootstrap {request.Version} {rid} gzip", written);
        sums.Append(CultureInfo.InvariantCulture, $"{sha}  {Path.GetFileName(gzRelative)}\n");
        _log($"wrote {gzRelative} ({size} bytes, sha256 {sha})");
    }

    private static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static bool SameContent(string a, string b)
    {
        if (new FileInfo(a).Length != new FileInfo(b).Length)
        {
            return false;
        }
        return HashFile(a) == HashFile(b);
    }

    private static string HashFile(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    private static ArtifactEntry Describe(string relative, string path) =>
        new() { Path = relative, Sha256 = HashFile(path), Size = new FileInfo(path).Length };

    private string TrustedComment(string file, string what) =>
        $"timestamp:{_clock.GetUtcNow().ToUnixTimeSeconds()}\tfile:{file}\t{what}";

    private void Restore(string path, byte[]? content)
    {
        try
        {
            if (content is null)
            {
                TryDelete(path);
            }
            else
            {
                _files.WriteAtomically(path, content);
            }
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// What one publish or deploy has written so far, to take back when a later step fails: the
    /// files it created (never one that was there before) and the folders it made, newest first.
    /// </summary>
    private sealed class Written(FeedPublisher publisher, string feed)
    {
        private readonly List<string> _files = [];
        private readonly List<string> _folders = [];

        public IReadOnlyList<string> Files => _files;

        public void File(string path) => _files.Add(path);

        /// <summary>Makes <paramref name="directory"/> and its missing parents inside the feed, remembering each.</summary>
        public void Folder(string directory) => publisher.CreateDirectories(feed, directory, _folders);

        public void Undo()
        {
            foreach (var path in Enumerable.Reverse(_files))
            {
                publisher.TryDelete(path);
            }
            foreach (var folder in Enumerable.Reverse(_folders))
            {
                try
                {
                    publisher._files.DeleteDirectoryIfEmpty(folder);
                }
                catch (IOException)
                {
                }
            }
        }
    }

    private void TryDelete(string path)
    {
        try
        {
            if (_files.Exists(path))
            {
                _files.Delete(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log($"could not remove {path} while undoing the publish: {SystemErrors.Describe(e)}");
        }
    }

    private static DateTimeOffset Truncate(DateTimeOffset t) => new(t.Year, t.Month, t.Day, t.Hour, t.Minute, t.Second, TimeSpan.Zero);
}
