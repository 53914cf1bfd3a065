using Belay.Core.Minisign;

namespace Belay.Core.Feed;

/// <summary>
/// The rules of root rotation (docs/trust.md, "Root rotation"): pure functions over bytes
/// already fetched. A root document is trusted either as an <em>anchor</em> (signed by a key
/// the host pinned, which it lists, and by a threshold of its own root keys) or as the
/// <em>successor</em> of a trusted root: version N+1 signed by a threshold of N's root keys
/// and by a threshold of its own. Expiry is judged only on the root a walk ends at.
/// </summary>
public static class RootTrust
{
    /// <summary>How many rotations one update check follows; the rest wait for the next check.</summary>
    public const int DefaultMaxRotations = 32;

    /// <summary>
    /// Parses a root document and checks its shape: schema 1, type root, at least one key
    /// per role, every key a minisign public key, thresholds from 1 to the number of keys,
    /// a release threshold of 1 (channel manifests carry one signature), and, when the
    /// optional deploy role is there, a deploy threshold of 1 and no key shared between the
    /// deploy role and the release or root role.
    /// </summary>
    public static RootDocument Parse(ReadOnlySpan<byte> json, string source)
    {
        var root = FeedJson.ParseRoot(json, source);
        if (root.Schema != 1 || root.Type != "root")
        {
            throw BelayException.Trust($"{source}: expected a root document of schema 1, got type '{root.Type}' schema {root.Schema}");
        }
        if (root.Version < 1)
        {
            throw BelayException.Trust($"{source}: version {root.Version} must be at least 1");
        }
        var rootKeys = Keys(root.Root, source, "root");
        if (root.Root.Threshold < 1 || root.Root.Threshold > rootKeys.Count)
        {
            throw BelayException.Trust($"{source}: root threshold {root.Root.Threshold} must be between 1 and the {rootKeys.Count} root key(s) it lists");
        }
        var releaseKeys = Keys(root.Release, source, "release");
        if (root.Release.Threshold != 1)
        {
            throw BelayException.Trust($"{source}: a release threshold of {root.Release.Threshold} is not supported (channel manifests carry one signature; use 1)");
        }
        if (root.Deploy is { } deploy)
        {
            var deployKeys = Keys(deploy, source, "deploy");
            if (deploy.Threshold != 1)
            {
                throw BelayException.Trust($"{source}: a deploy threshold of {deploy.Threshold} is not supported (group documents carry one signature; use 1)");
            }
            // Separate roles, separate keys: a key in both would let a deployer ship an agent
            // (or a releaser push apps), which is what the split exists to prevent.
            if (deployKeys.FirstOrDefault(releaseKeys.Contains) is { } both)
            {
                throw BelayException.Trust($"{source}: key {both.KeyIdHex} is both a release key and a deploy key; a key may hold one role only (make a separate deploy key with belay-release keygen --role deploy)");
            }
            if (deployKeys.FirstOrDefault(rootKeys.Contains) is { } rootToo)
            {
                throw BelayException.Trust($"{source}: key {rootToo.KeyIdHex} is both a root key and a deploy key; a key may hold one role only (the root key belongs offline)");
            }
        }
        return root;
    }

    /// <summary>The distinct root keys of a document.</summary>
    public static IReadOnlyList<MinisignPublicKey> RootKeys(RootDocument root, string source = FeedLayout.RootFile)
    {
        ArgumentNullException.ThrowIfNull(root);
        return Keys(root.Root, source, "root");
    }

    /// <summary>
    /// The keys among <paramref name="candidates"/> that made a valid prehashed signature over
    /// <paramref name="json"/>. Signatures that do not parse, are by other keys or do not
    /// verify are ignored: only the count of good ones matters.
    /// </summary>
    public static HashSet<MinisignPublicKey> Signers(ReadOnlySpan<byte> json, IEnumerable<byte[]> signatureFiles, IReadOnlyCollection<MinisignPublicKey> candidates)
    {
        ArgumentNullException.ThrowIfNull(signatureFiles);
        ArgumentNullException.ThrowIfNull(candidates);
        var signers = new HashSet<MinisignPublicKey>();
        foreach (var file in signatureFiles)
        {
            MinisignSignature signature;
            try
            {
                signature = MinisignSignature.Parse(file);
            }
            catch (MinisignException)
            {
                continue;
            }
            foreach (var key in candidates)
            {
                if (!key.KeyId.Span.SequenceEqual(signature.KeyId.Span))
                {
                    continue;
                }
                try
                {
                    MinisignVerifier.Verify(key, json, signature, allowLegacy: false);
                    signers.Add(key);
                }
                catch (MinisignException)
                {
                }
            }
        }
        return signers;
    }

    /// <summary>
    /// A root trusted on the strength of the host's pinned keys: one of them signed it and is
    /// among its root keys, and a threshold of its own root keys signed it.
    /// </summary>
    public static RootDocument VerifyAnchor(ReadOnlySpan<byte> json, IReadOnlyList<byte[]> signatureFiles, IReadOnlyCollection<MinisignPublicKey> pinned, string source)
    {
        ArgumentNullException.ThrowIfNull(pinned);
        if (pinned.Count == 0)
        {
            throw BelayException.Trust("no root key is trusted: give one with --root-key (the base64 line of root.pub, or its path)");
        }
        var root = Parse(json, source);
        var own = RootKeys(root, source);
        var signers = Signers(json, signatureFiles, [.. own.Union(pinned)]);
        var pinnedSigners = signers.Where(k => pinned.Contains(k)).ToList();
        if (pinnedSigners.Count == 0)
        {
            // Say apart a signature by a trusted key that does not verify (a changed file, or a
            // signature of something else beside it) from signatures by keys this host does not trust.
            var claimed = SignatureKeyIds(signatureFiles).Distinct(StringComparer.Ordinal).ToList();
            var trustedIds = pinned.Select(k => k.KeyIdHex).ToHashSet(StringComparer.Ordinal);
            var forged = claimed.Where(trustedIds.Contains).ToList();
            if (forged.Count > 0)
            {
                throw BelayException.Trust($"{source} (root version {root.Version}) carries a signature that names trusted root key {KeyList(forged)} but does not verify: the file or its signature was changed, or the signature belongs to another file");
            }
            throw BelayException.Trust(claimed.Count == 0
                ? $"{source} (root version {root.Version}) has no readable signature; trusted root key(s): {KeyList(pinned)}"
                : claimed.Count == 1
                    ? $"{source} (root version {root.Version}) is signed by key {claimed[0]}, which is not a trusted root key (this host trusts {KeyList(pinned)})"
                    : $"{source} (root version {root.Version}) is signed by keys {KeyList(claimed)}, none of which is a trusted root key (this host trusts {KeyList(pinned)})");
        }
        if (!pinnedSigners.Any(k => own.Contains(k)))
        {
            throw BelayException.Trust($"{source} (root version {root.Version}) is signed by root key {pinnedSigners[0].KeyIdHex}, but that key is not among the root keys it lists");
        }
        CheckThreshold(signers, own, root.Root.Threshold, source, root.Version, "its own");
        return root;
    }

    /// <summary>
    /// The next root after <paramref name="trusted"/>: version exactly one higher, the same
    /// product, signed by a threshold of the trusted root's keys (the old keys agree) and by
    /// a threshold of its own (the new keys exist and agree).
    /// </summary>
    public static RootDocument VerifySuccessor(RootDocument trusted, ReadOnlySpan<byte> json, IReadOnlyList<byte[]> signatureFiles, string source)
    {
        ArgumentNullException.ThrowIfNull(trusted);
        var next = Parse(json, source);
        if (next.Version != trusted.Version + 1)
        {
            throw BelayException.Trust($"{source}: expected root version {trusted.Version + 1}, got {next.Version}");
        }
        if (next.Product != trusted.Product)
        {
            throw BelayException.Trust($"{source}: root version {next.Version} is for product '{next.Product}', not '{trusted.Product}'");
        }
        var oldKeys = RootKeys(trusted);
        var newKeys = RootKeys(next, source);
        var signers = Signers(json, signatureFiles, [.. oldKeys.Union(newKeys)]);
        CheckThreshold(signers, oldKeys, trusted.Root.Threshold, source, next.Version, $"the previous root's (version {trusted.Version})");
        CheckThreshold(signers, newKeys, next.Root.Threshold, source, next.Version, "its own");
        return next;
    }

    /// <summary>Throws <see cref="StaleMetadataException"/> when <paramref name="root"/> has expired at <paramref name="now"/>.</summary>
    public static void CheckCurrent(RootDocument root, DateTimeOffset now, string source)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (root.Expires <= now)
        {
            throw new StaleMetadataException(source, root.Expires, now,
                $"{source} (root version {root.Version}) expired at {root.Expires:u} (now {now:u}): the publisher must re-sign it (belay-release root rotate or init --force), or check this host's clock");
        }
    }

    /// <summary>Whether the release role (keys or threshold) differs between two roots: what resets the sequence watermark.</summary>
    public static bool ReleaseRoleChanged(RootDocument before, RootDocument after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        return before.Release.Threshold != after.Release.Threshold ||
            !new HashSet<MinisignPublicKey>(FeedTrust.ReleaseKeys(before)).SetEquals(FeedTrust.ReleaseKeys(after));
    }

    /// <summary>Whether the deploy role (keys or threshold, or its presence) differs between two roots.</summary>
    public static bool DeployRoleChanged(RootDocument before, RootDocument after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        return !SameRole(before.Deploy, after.Deploy);
    }

    /// <summary>Whether two roles name the same set of keys with the same threshold (two absent roles are the same).</summary>
    public static bool SameRole(KeyRole? a, KeyRole? b) =>
        a is null || b is null
            ? a is null && b is null
            : a.Threshold == b.Threshold && new HashSet<string>(a.Keys, StringComparer.Ordinal).SetEquals(b.Keys);

    private static void CheckThreshold(HashSet<MinisignPublicKey> signers, IReadOnlyList<MinisignPublicKey> keys, int threshold, string source, long version, string whose)
    {
        var count = keys.Count(signers.Contains);
        if (count < threshold)
        {
            throw BelayException.Trust($"{source}: root version {version} has {count} valid signature(s) from {whose} root keys ({KeyList(keys)}), fewer than the threshold of {threshold}");
        }
    }

    private static string KeyList(IEnumerable<MinisignPublicKey> keys) => KeyList(keys.Select(k => k.KeyIdHex));

    private static string KeyList(IEnumerable<string> ids)
    {
        var list = ids.Distinct(StringComparer.Ordinal).ToList();
        return list.Count == 0 ? "none" : string.Join(", ", list);
    }

    /// <summary>The key ids the signature files claim (for messages only: nothing here is verified).</summary>
    private static IEnumerable<string> SignatureKeyIds(IEnumerable<byte[]> signatureFiles)
    {
        foreach (var file in signatureFiles)
        {
            string? id;
            try
            {
                id = MinisignSignature.Parse(file).KeyIdHex;
            }
            catch (MinisignException)
            {
                id = null;
            }
            if (id is not null)
            {
                yield return id;
            }
        }
    }

    private static List<MinisignPublicKey> Keys(KeyRole role, string source, string roleName)
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
            if (!keys.Contains(key))
            {
                keys.Add(key);
            }
        }
        return keys;
    }
}

/// <summary>Signed metadata that has expired: a frozen (replayed) feed, a publisher that stopped re-signing, or a wrong clock.</summary>
public sealed class StaleMetadataException : BelayException
{
    public StaleMetadataException(string where, DateTimeOffset expired, DateTimeOffset now, string message)
        : base(ExitCodes.TrustFailure, message)
    {
        Where = where;
        Expired = expired;
        Now = now;
    }

    public StaleMetadataException()
        : this("(unknown)", default, default, "stale metadata")
    {
    }

    public StaleMetadataException(string message)
        : this("(unknown)", default, default, message)
    {
    }

    public StaleMetadataException(string message, Exception inner)
        : base(ExitCodes.TrustFailure, message, inner)
    {
        Where = "(unknown)";
    }

    public string Where { get; }
    public DateTimeOffset Expired { get; }
    public DateTimeOffset Now { get; }
}
