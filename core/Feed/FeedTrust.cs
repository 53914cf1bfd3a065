using Belay.Core.Minisign;
using Belay.Core.Versioning;

namespace Belay.Core.Feed;

/// <summary>
/// The checks that make a feed document trusted (DESIGN.md, "Trust chain"): pure functions
/// over bytes already fetched, so that installer, agent, publisher and verify-feed apply
/// exactly the same rules. Every failure is a trust failure that names the check.
/// </summary>
public static class FeedTrust
{
    /// <summary>
    /// root.json with its one signature (root.json.minisig) as an anchor: signed by one of
    /// <paramref name="trustedRootKeys"/> (compiled in or pinned), that key one of the root keys
    /// the document itself lists, its root threshold met (so only a threshold of 1 passes here:
    /// roots that need more signatures are read with <see cref="RootChain"/>), and not expired.
    /// </summary>
    public static RootDocument VerifyRoot(ReadOnlySpan<byte> json, ReadOnlySpan<byte> signature, IReadOnlyCollection<MinisignPublicKey> trustedRootKeys,
        DateTimeOffset now, string source)
    {
        ArgumentNullException.ThrowIfNull(trustedRootKeys);
        var root = RootTrust.VerifyAnchor(json, [signature.ToArray()], trustedRootKeys, source);
        RootTrust.CheckCurrent(root, now, source);
        return root;
    }

    /// <summary>The keys root allows to sign channel manifests and artifacts.</summary>
    public static IReadOnlyList<MinisignPublicKey> ReleaseKeys(RootDocument root, string source = FeedLayout.RootFile)
    {
        ArgumentNullException.ThrowIfNull(root);
        return ParseKeys(root.Release, source, "release");
    }

    /// <summary>
    /// The keys root allows to sign group documents (the deploy role). A root without the
    /// role is a trust failure that says how to add one: no group document verifies there.
    /// </summary>
    public static IReadOnlyList<MinisignPublicKey> DeployKeys(RootDocument root, string source = FeedLayout.RootFile)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (root.Deploy is null || root.Deploy.Keys.Count == 0)
        {
            throw BelayException.Trust($"{source} (root version {root.Version}) lists no deploy keys, so no group document can be trusted: the publisher adds them with belay-release root rotate --deploy-key deploy.pub");
        }
        return ParseKeys(root.Deploy, source, "deploy");
    }

    /// <summary>
    /// A channel manifest must be signed by a release key of <paramref name="root"/>, name the
    /// expected product and channel, carry a sequence no lower than the highest seen, not
    /// have expired, and describe every artifact by a safe path, a SHA-256 and a size.
    /// </summary>
    /// <param name="now">The instant expiry is judged at; null skips the expiry check (a publisher extending an expired channel).</param>
    public static ChannelManifest VerifyManifest(ReadOnlySpan<byte> json, ReadOnlySpan<byte> signature, RootDocument root, string channel,
        DateTimeOffset? now, long minimumSequence, string source)
    {
        ArgumentNullException.ThrowIfNull(root);
        _ = VerifySignature(json, signature, ReleaseKeys(root), source, "a release key listed in root.json");
        var manifest = FeedJson.ParseManifest(json, source);
        var problems = ManifestProblems(manifest, root.Product, channel);
        if (problems.Count > 0)
        {
            throw BelayException.Trust($"{source}: {string.Join("; ", problems)}");
        }
        if (manifest.Sequence < minimumSequence)
        {
            throw BelayException.Trust($"{source} has sequence {manifest.Sequence}, lower than {minimumSequence} already seen: refusing a rolled-back (replayed) manifest");
        }
        if (now is not null && manifest.Expires <= now)
        {
            throw new StaleMetadataException(source, manifest.Expires, now.Value,
                $"{source} expired at {manifest.Expires:u} (now {now.Value:u}): the publisher must publish or re-sign the channel, or this host's clock is wrong");
        }
        return manifest;
    }

    /// <summary>Everything structurally wrong with a manifest, in words; empty when it is sound.</summary>
    public static IReadOnlyList<string> ManifestProblems(ChannelManifest manifest, string product, string channel)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var problems = new List<string>();
        if (manifest.Schema != 1)
        {
            problems.Add($"schema {manifest.Schema} is not supported (expected 1)");
        }
        if (manifest.Product != product)
        {
            problems.Add($"it is for product '{manifest.Product}', not '{product}'");
        }
        if (manifest.Channel != channel)
        {
            problems.Add($"it is for channel '{manifest.Channel}', not '{channel}'");
        }
        if (manifest.Sequence < 1)
        {
            problems.Add($"sequence {manifest.Sequence} must be at least 1");
        }
        var seen = new HashSet<SemVersion>();
        foreach (var release in manifest.Releases)
        {
            if (!SemVersion.TryParse(release.Version, out var v, out var error))
            {
                problems.Add(error);
                continue;
            }
            if (!seen.Add(v))
            {
                problems.Add($"version {release.Version} is listed twice");
            }
            if (release.Rollout.Percent is < 0 or > 100)
            {
                problems.Add($"version {release.Version}: rollout {release.Rollout.Percent}% is not between 0 and 100");
            }
            if (release.Artifacts.Count == 0)
            {
                problems.Add($"version {release.Version} has no artifacts");
            }
            foreach (var (rid, artifact) in release.Artifacts.Concat(release.Bootstrap ?? []))
            {
                problems.AddRange(ArtifactProblems(release.Version, rid, artifact));
            }
            foreach (var (rid, artifact) in release.Artifacts)
            {
                if (artifact.Compact is { } compact)
                {
                    problems.AddRange(ArtifactProblems(release.Version, rid, compact, " compact archive"));
                    if (compact.Compact is not null)
                    {
                        problems.Add($"version {release.Version} {rid}: the compact archive has a compact form of its own");
                    }
                }
            }
            foreach (var (rid, artifact) in release.Bootstrap ?? [])
            {
                if (artifact.Compact is not null)
                {
                    problems.Add($"version {release.Version} bootstrap {rid}: only agent archives have a compact form");
                }
            }
        }
        return problems;
    }

    private static IEnumerable<string> ArtifactProblems(string version, string rid, ArtifactEntry artifact, string? what = null)
    {
        if (what is null && !FeedLayout.IsValidRid(rid))
        {
            yield return $"version {version}: '{rid}' is not a runtime identifier";
        }
        rid += what;
        if (!FeedLayout.IsSafeRelativePath(artifact.Path))
        {
            yield return $"version {version} {rid}: path '{artifact.Path}' is not a plain relative path inside the feed";
        }
        if (artifact.Sha256.Length != 64 || !artifact.Sha256.All(char.IsAsciiHexDigitLower))
        {
            yield return $"version {version} {rid}: sha256 '{artifact.Sha256}' is not 64 lower-case hex digits";
        }
        if (artifact.Size <= 0)
        {
            yield return $"version {version} {rid}: size {artifact.Size} must be positive";
        }
    }

    /// <summary>Verifies a detached minisign signature over <paramref name="data"/> by any of <paramref name="keys"/>.</summary>
    public static MinisignPublicKey VerifySignature(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signatureFile, IReadOnlyCollection<MinisignPublicKey> keys,
        string source, string whoShouldSign)
    {
        ArgumentNullException.ThrowIfNull(keys);
        MinisignSignature? signature = null;
        try
        {
            // Parsed from bytes: minisign signs the trusted comment as raw bytes.
            signature = MinisignSignature.Parse(signatureFile);
            return MinisignVerifier.Verify(keys, data, signature, allowLegacy: false);
        }
        catch (MinisignException e) when (e.Failure == MinisignFailure.KeyIdMismatch && signature is not null)
        {
            throw BelayException.Trust($"{source} is signed by key {signature.KeyIdHex}, which is not {whoShouldSign} ({string.Join(", ", keys.Select(k => k.KeyIdHex))})", e);
        }
        catch (MinisignException e)
        {
            throw BelayException.Trust($"{source}: {e.Message}", e);
        }
    }

    private static List<MinisignPublicKey> ParseKeys(KeyRole role, string source, string roleName)
    {
        if (role.Keys.Count == 0)
        {
            throw BelayException.Trust($"{source} lists no {roleName} keys");
        }
        var keys = new List<MinisignPublicKey>();
        foreach (var text in role.Keys)
        {
            if (!MinisignPublicKey.TryParse(text, out var key, out var error))
            {
                throw BelayException.Trust($"{source}: {roleName} key '{text}' is not a minisign public key: {error}");
            }
            keys.Add(key);
        }
        return keys;
    }
}
