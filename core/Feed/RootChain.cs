using Belay.Core.Minisign;

namespace Belay.Core.Feed;

/// <summary>A root the host trusts, with the exact bytes that were verified.</summary>
public sealed record TrustedRoot(RootDocument Document, byte[] Json);

/// <summary>
/// Where a walk of the root chain ended, after <see cref="Rotations"/> verified rotations
/// (versions searched for an anchor count towards the cap, not here). <see cref="Complete"/> is false when the walk stopped
/// at the rotation cap before the feed's newest root: the root reached is trusted (every
/// step verified) and is persisted, and the next check goes on from there.
/// <see cref="ReleaseEpoch"/> is the root version at which the release role last changed
/// on this host's walk (0 when it never did): the manifest watermark is reset when it moves.
/// </summary>
public sealed record RootWalk(TrustedRoot Root, int Rotations, long ReleaseEpoch, bool Complete, long FeedVersion);

/// <summary>
/// Brings a host's trusted root up to date with a feed (docs/trust.md, "Root rotation").
/// root.json names the newest version (it is only a hint until verified). From the trusted
/// root N, each of root/N+1.json … is fetched and must be signed by a threshold of the
/// previous root's keys and of its own; a host with no trusted root yet anchors on the first
/// version its pinned keys signed. Signatures come from root.json.minisig (when root.json is
/// that version) and from root/&lt;N&gt;.json.&lt;KEYID&gt;.minisig, one file per key, fetched
/// only when the first is not enough, so an unrotated feed costs no extra request.
/// </summary>
public static class RootChain
{
    public const long SignatureLimit = 64 * 1024;

    public static async Task<RootWalk> UpdateAsync(FeedSource source, TrustedRoot? trusted, IReadOnlyCollection<MinisignPublicKey> pinned,
        long releaseEpoch, DateTimeOffset now, int maxRotations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(pinned);
        var latestWhere = source.Describe(FeedLayout.RootFile);
        var latestJson = await source.ReadAsync(FeedLayout.RootFile, FeedSource.MetadataLimit, cancellationToken).ConfigureAwait(false);
        var latestSig = await TryReadAsync(source, FeedLayout.RootFile + FeedLayout.SignatureSuffix, cancellationToken).ConfigureAwait(false);
        // A hint only: its version says how far to walk. Nothing in it is believed before it verifies.
        var latest = RootTrust.Parse(latestJson, latestWhere);
        var steps = 0;
        var rotations = 0;

        TrustedRoot current;
        if (trusted is not null)
        {
            current = trusted;
        }
        else
        {
            (current, steps) = await AnchorAsync(source, latest, latestJson, latestSig, pinned, maxRotations, cancellationToken).ConfigureAwait(false);
        }

        while (current.Document.Version < latest.Version)
        {
            if (steps >= maxRotations)
            {
                return new RootWalk(current, rotations, releaseEpoch, Complete: false, latest.Version);
            }
            var version = current.Document.Version + 1;
            var (json, where) = await ReadVersionAsync(source, version, latest, latestJson, cancellationToken).ConfigureAwait(false);
            var previous = current.Document;
            var next = await VerifyAsync(source, version, json, latestJson, latestSig, [.. RootTrust.RootKeys(previous).Union(KeysOf(json, where))],
                sigs => RootTrust.VerifySuccessor(previous, json, sigs, where), cancellationToken).ConfigureAwait(false);
            if (RootTrust.ReleaseRoleChanged(previous, next))
            {
                releaseEpoch = next.Version;
            }
            current = new TrustedRoot(next, json);
            steps++;
            rotations++;
        }
        RootTrust.CheckCurrent(current.Document, now, current.Document.Version == latest.Version ? latestWhere : source.Describe(FeedLayout.RootVersionFile(current.Document.Version)));
        return new RootWalk(current, rotations, releaseEpoch, Complete: true, latest.Version);
    }

    /// <summary>The first root the pinned keys vouch for: root.json itself (the usual case), else the oldest version they signed.</summary>
    private static async Task<(TrustedRoot Root, int Steps)> AnchorAsync(FeedSource source, RootDocument latest, byte[] latestJson, byte[]? latestSig,
        IReadOnlyCollection<MinisignPublicKey> pinned, int maxRotations, CancellationToken cancellationToken)
    {
        var latestWhere = source.Describe(FeedLayout.RootFile);
        BelayException firstFailure;
        try
        {
            var root = await VerifyAsync(source, latest.Version, latestJson, latestJson, latestSig, [.. pinned.Union(KeysOf(latestJson, latestWhere))],
                sigs => RootTrust.VerifyAnchor(latestJson, sigs, pinned, latestWhere), cancellationToken).ConfigureAwait(false);
            return (new TrustedRoot(root, latestJson), 0);
        }
        catch (BelayException e) when (e.ExitCode == ExitCodes.TrustFailure && latest.Version > 1)
        {
            // The pinned keys may belong to an older root (a binary built before a rotation):
            // find the oldest version they signed and walk forward from it.
            firstFailure = e;
        }
        var steps = 0;
        for (long version = 1; version < latest.Version; version++)
        {
            if (steps >= maxRotations)
            {
                break;
            }
            steps++;
            byte[] json;
            string where;
            try
            {
                (json, where) = await ReadVersionAsync(source, version, latest, latestJson, cancellationToken).ConfigureAwait(false);
            }
            catch (FeedFileNotFoundException)
            {
                continue;
            }
            try
            {
                var root = await VerifyAsync(source, version, json, latestJson, latestSig, [.. pinned.Union(KeysOf(json, where))],
                    sigs => RootTrust.VerifyAnchor(json, sigs, pinned, where), cancellationToken).ConfigureAwait(false);
                return (new TrustedRoot(root, json), steps);
            }
            catch (BelayException e) when (e.ExitCode == ExitCodes.TrustFailure)
            {
            }
        }
        throw firstFailure;
    }

    /// <summary>root/&lt;version&gt;.json; for the newest version of a feed written before versioned roots, root.json.</summary>
    private static async Task<(byte[] Json, string Where)> ReadVersionAsync(FeedSource source, long version, RootDocument latest, byte[] latestJson,
        CancellationToken cancellationToken)
    {
        var file = FeedLayout.RootVersionFile(version);
        try
        {
            return (await source.ReadAsync(file, FeedSource.MetadataLimit, cancellationToken).ConfigureAwait(false), source.Describe(file));
        }
        catch (FeedFileNotFoundException) when (version == latest.Version)
        {
            return (latestJson, source.Describe(FeedLayout.RootFile));
        }
        catch (FeedFileNotFoundException e)
        {
            throw BelayException.Trust($"{source.Describe(file)} is missing: cannot follow the root rotation to version {latest.Version} that {FeedLayout.RootFile} announces", e);
        }
    }

    /// <summary>
    /// Runs <paramref name="verify"/> with the cheap signatures first (root.json.minisig when these
    /// bytes are root.json), then, if that is not enough, with every per-key signature file.
    /// </summary>
    private static async Task<RootDocument> VerifyAsync(FeedSource source, long version, byte[] json, byte[] latestJson, byte[]? latestSig,
        IReadOnlyCollection<MinisignPublicKey> candidates, Func<IReadOnlyList<byte[]>, RootDocument> verify, CancellationToken cancellationToken)
    {
        var signatures = new List<byte[]>();
        if (latestSig is not null && json.AsSpan().SequenceEqual(latestJson))
        {
            signatures.Add(latestSig);
            try
            {
                return verify(signatures);
            }
            catch (BelayException e) when (e.ExitCode == ExitCodes.TrustFailure)
            {
            }
        }
        foreach (var key in candidates)
        {
            var sig = await TryReadAsync(source, FeedLayout.RootKeySignature(version, key), cancellationToken).ConfigureAwait(false);
            if (sig is not null)
            {
                signatures.Add(sig);
            }
        }
        return verify(signatures);
    }

    /// <summary>The root keys a not yet verified document lists (to know which signature files to fetch).</summary>
    private static IEnumerable<MinisignPublicKey> KeysOf(byte[] json, string where)
    {
        try
        {
            return RootTrust.RootKeys(RootTrust.Parse(json, where), where);
        }
        catch (BelayException)
        {
            return [];
        }
    }

    private static async Task<byte[]?> TryReadAsync(FeedSource source, string file, CancellationToken cancellationToken)
    {
        try
        {
            return await source.ReadAsync(file, SignatureLimit, cancellationToken).ConfigureAwait(false);
        }
        catch (FeedFileNotFoundException)
        {
            return null;
        }
    }
}
