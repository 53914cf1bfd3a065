using System.Security.Cryptography;
using Belay.Core.Deploy;
using Belay.Core.Minisign;

namespace Belay.Core.Feed;

/// <summary>
/// The whole-feed check behind `belay-release verify-feed`: root against the given root
/// key(s), then for each channel the manifest (signature, product, channel, sequence,
/// expiry), then every artifact (size, SHA-256 and its own signature); then for each group
/// its document (a deploy key's signature, every field, expiry) and every app archive it
/// names (size, SHA-256, a deploy key's signature). It goes on after a failure so that one
/// run names every problem.
/// </summary>
public sealed class FeedVerifier
{
    private readonly FeedSource _feed;
    private readonly IReadOnlyCollection<MinisignPublicKey> _rootKeys;
    private readonly TimeProvider _clock;
    private readonly Action<string> _report;

    public FeedVerifier(FeedSource feed, IReadOnlyCollection<MinisignPublicKey> rootKeys, Action<string> report, TimeProvider? clock = null)
    {
        _feed = feed;
        _rootKeys = rootKeys;
        _report = report;
        _clock = clock ?? TimeProvider.System;
    }

    public sealed record Result(int Checked, IReadOnlyList<BelayException> Failures)
    {
        public bool Ok => Failures.Count == 0;

        /// <summary>Trust failures outrank an unreachable feed: a lie is worse than silence.</summary>
        public int ExitCode => Failures.Count == 0 ? ExitCodes.Ok
            : Failures.Any(f => f.ExitCode == ExitCodes.TrustFailure) ? ExitCodes.TrustFailure
            : Failures.Max(f => f.ExitCode);
    }

    /// <param name="channels">Channels to check; null for every channel the feed can list (directories), else stable.</param>
    /// <param name="minimumSequence">The lowest acceptable sequence (a watermark already seen).</param>
    /// <param name="groups">Groups to check; null for every group document the feed can list (directories), else none.</param>
    public async Task<Result> VerifyAsync(IReadOnlyList<string>? channels, long minimumSequence, CancellationToken cancellationToken,
        IReadOnlyList<string>? groups = null)
    {
        var failures = new List<BelayException>();
        var count = 0;
        var now = _clock.GetUtcNow();

        async Task<T?> Check<T>(string what, Func<Task<T>> check)
            where T : class
        {
            count++;
            try
            {
                var result = await check().ConfigureAwait(false);
                _report($"ok    {what}");
                return result;
            }
            catch (BelayException e)
            {
                failures.Add(e);
                _report($"FAIL  {what}: {e.Message}");
                return null;
            }
        }

        var root = await Check($"{FeedLayout.RootFile} reached from the root key (every rotation signed by the old and new keys) and current", async () =>
        {
            // As a host with only the pinned keys would: anchor, then walk every rotation (no cap here).
            var walk = await RootChain.UpdateAsync(_feed, null, _rootKeys, 0, now, int.MaxValue, cancellationToken).ConfigureAwait(false);
            if (walk.Rotations > 0)
            {
                _report($"      followed {walk.Rotations} root rotation(s) to version {walk.Root.Document.Version}");
            }
            return walk.Root.Document;
        }).ConfigureAwait(false);
        if (root is null)
        {
            return new Result(count, failures);
        }
        var releaseKeys = FeedTrust.ReleaseKeys(root);
        _report($"      root version {root.Version}, product {root.Product}, release keys {string.Join(", ", releaseKeys.Select(k => k.KeyIdHex))}, expires {root.Expires:u}");

        var toCheck = channels ?? _feed.ListChannels() ?? [FeedLayout.DefaultChannel];
        if (toCheck.Count == 0)
        {
            failures.Add(BelayException.Trust("the feed has no channels: publish one with belay-release publish"));
            _report("FAIL  the feed has no channels");
        }
        foreach (var channel in toCheck)
        {
            var file = FeedLayout.ChannelFile(channel);
            var manifest = await Check($"{file} signed by a release key, sequence >= {minimumSequence}, not expired", async () =>
            {
                var json = await _feed.ReadAsync(file, FeedSource.MetadataLimit, cancellationToken).ConfigureAwait(false);
                var sig = await ReadSignatureAsync(file, cancellationToken).ConfigureAwait(false);
                return FeedTrust.VerifyManifest(json, sig, root, channel, now, minimumSequence, _feed.Describe(file));
            }).ConfigureAwait(false);
            if (manifest is null)
            {
                continue;
            }
            _report($"      channel {channel}: sequence {manifest.Sequence}, expires {manifest.Expires:u}, {manifest.Releases.Count} release(s)");
            foreach (var release in manifest.Releases)
            {
                foreach (var (kind, set) in new[] { ("agent", release.Artifacts), ("bootstrap", release.Bootstrap ?? []) })
                {
                    foreach (var (rid, artifact) in set.OrderBy(p => p.Key, StringComparer.Ordinal))
                    {
                        // An agent archive with a compact form is kept until the compact form is compared with it.
                        var compact = kind == "agent" ? artifact.Compact : null;
                        string? kept = null;
                        try
                        {
                            await Check($"{artifact.Path} ({kind} {release.Version} {rid}): {artifact.Size} bytes, sha256 {artifact.Sha256[..Math.Min(12, artifact.Sha256.Length)]}…, signed",
                                async () =>
                                {
                                    kept = await DownloadVerifiedAsync(artifact, releaseKeys, keep: compact is not null, cancellationToken).ConfigureAwait(false);
                                    return artifact;
                                }).ConfigureAwait(false);
                            if (compact is not null)
                            {
                                await Check($"{compact.Path} ({kind} {release.Version} {rid}, compact): {compact.Size} bytes, sha256 {compact.Sha256[..Math.Min(12, compact.Sha256.Length)]}…, signed, the same tar as the archive",
                                    () => VerifyCompactAsync(release.Version, rid, compact, kept, releaseKeys, cancellationToken)).ConfigureAwait(false);
                            }
                        }
                        finally
                        {
                            if (kept is not null)
                            {
                                File.Delete(kept);
                            }
                        }
                    }
                }
            }
        }
        foreach (var group in groups ?? _feed.ListGroups() ?? [])
        {
            var file = FeedLayout.GroupFile(group);
            var document = await Check($"{file} signed by a deploy key, every field sound, not expired", async () =>
            {
                var json = await _feed.ReadAsync(file, FeedSource.MetadataLimit, cancellationToken).ConfigureAwait(false);
                var sig = await ReadSignatureAsync(file, cancellationToken).ConfigureAwait(false);
                return GroupTrust.Verify(json, sig, root, group, now, 0, _feed.Describe(file));
            }).ConfigureAwait(false);
            if (document is null)
            {
                continue;
            }
            _report($"      group {group}: sequence {document.Sequence}, expires {document.Expires:u}, {document.Apps.Count} app(s)");
            var deployKeys = FeedTrust.DeployKeys(root);
            foreach (var (app, desired) in document.Apps.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                foreach (var (rid, artifact) in desired.Artifacts.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    await Check($"{artifact.Path} (app {app} {desired.Version} {rid}): {artifact.Size} bytes, sha256 {artifact.Sha256[..Math.Min(12, artifact.Sha256.Length)]}…, signed",
                        () => VerifyArtifactAsync(artifact, deployKeys, cancellationToken)).ConfigureAwait(false);
                }
            }
        }
        return new Result(count, failures);
    }

    private Task<byte[]> ReadSignatureAsync(string file, CancellationToken cancellationToken) =>
        _feed.ReadAsync(file + FeedLayout.SignatureSuffix, 64 * 1024, cancellationToken);

    /// <summary>
    /// The compact form: at the path hosts expect for its version and RID (they refuse any other), size, hash and
    /// signature like any artifact, and holding exactly the tar of the archive beside it (<paramref name="archive"/>, the
    /// verified download of the .tar.gz, or null when that failed), so that hosts reading either get the same files.
    /// </summary>
    private async Task<object> VerifyCompactAsync(string version, string rid, ArtifactEntry compact, string? archive, IReadOnlyList<MinisignPublicKey> releaseKeys,
        CancellationToken cancellationToken)
    {
        var expected = FeedLayout.AgentCompactArchive(version, rid);
        if (compact.Path != expected)
        {
            throw BelayException.Trust($"the compact archive of {version} for {rid} is listed as {compact.Path}, not {expected ?? "nothing (this RID has no compact form)"}; hosts refuse it");
        }
        var file = await DownloadVerifiedAsync(compact, releaseKeys, keep: archive is not null, cancellationToken).ConfigureAwait(false);
        if (file is null || archive is null)
        {
            return compact;
        }
        try
        {
            if (Archives.CompactArchive.SameTarProblem(archive, file) is { } problem)
            {
                throw BelayException.Trust($"{_feed.Describe(compact.Path)} does not hold the same tar as {_feed.Describe(FeedLayout.AgentArchive(version, rid))} ({problem}): hosts that read it would get other files; publish the release again");
            }
        }
        finally
        {
            File.Delete(file);
        }
        return compact;
    }

    private async Task<object> VerifyArtifactAsync(ArtifactEntry artifact, IReadOnlyList<MinisignPublicKey> keys, CancellationToken cancellationToken)
    {
        await DownloadVerifiedAsync(artifact, keys, keep: false, cancellationToken).ConfigureAwait(false);
        return artifact;
    }

    /// <summary>Downloads and checks one artifact; with <paramref name="keep"/>, returns the verified copy (the caller deletes it), else null.</summary>
    private async Task<string?> DownloadVerifiedAsync(ArtifactEntry artifact, IReadOnlyList<MinisignPublicKey> releaseKeys, bool keep, CancellationToken cancellationToken)
    {
        var where = _feed.Describe(artifact.Path);
        // Named with the artifact's own ending: the compact form's ending says whether the x86 filter is to be undone.
        var temp = Path.Combine(Path.GetTempPath(), $"belay-verify-{Guid.NewGuid():N}-{Path.GetFileName(artifact.Path)}");
        var kept = false;
        try
        {
            long size;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 81920, keep ? FileOptions.None : FileOptions.DeleteOnClose))
            {
                size = await _feed.CopyArtifactAsync(artifact.Path, file, artifact.Size, cancellationToken).ConfigureAwait(false);
                if (size != artifact.Size)
                {
                    throw BelayException.Trust($"{where} is {size} bytes, the manifest says {artifact.Size}");
                }
                file.Position = 0;
                var hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, cancellationToken).ConfigureAwait(false));
                if (hash != artifact.Sha256)
                {
                    throw BelayException.Trust($"{where} has SHA-256 {hash}, the manifest says {artifact.Sha256}");
                }
                file.Position = 0;
                var sig = await ReadSignatureAsync(artifact.Path, cancellationToken).ConfigureAwait(false);
                try
                {
                    var signature = MinisignSignature.Parse(sig);
                    MinisignVerifier.Verify(releaseKeys, file, signature, allowLegacy: false);
                }
                catch (MinisignException e)
                {
                    throw BelayException.Trust($"{where}{FeedLayout.SignatureSuffix}: {e.Message}", e);
                }
            }
            kept = keep;
            return keep ? temp : null;
        }
        finally
        {
            if (!kept)
            {
                File.Delete(temp);
            }
        }
    }
}
