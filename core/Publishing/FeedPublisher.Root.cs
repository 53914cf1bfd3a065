using Belay.Core.Feed;
using Belay.Core.Minisign;

namespace Belay.Core.Publishing;

/// <summary>What `belay-release root rotate` is asked to do; null keeps the current value.</summary>
public sealed record RotateRequest(
    string FeedDirectory,
    IReadOnlyList<MinisignSecretKey> SigningKeys,
    IReadOnlyList<MinisignPublicKey>? RootKeys = null,
    int? Threshold = null,
    IReadOnlyList<MinisignPublicKey>? ReleaseKeys = null,
    TimeSpan? ExpiresIn = null,
    IReadOnlyList<MinisignPublicKey>? DeployKeys = null);

public sealed partial class FeedPublisher
{
    /// <summary>
    /// Writes root version N+1 (docs/trust.md, "Root rotation"). It is checked exactly as a
    /// host will check it before anything is written: signed by a threshold of version N's
    /// root keys and a threshold of its own. Then, in this order: root/N.json when an older
    /// feed lacks it, root/N+1.json, one root/N+1.json.&lt;KEYID&gt;.minisig per signing key,
    /// root.json.minisig (by a key both versions list when there is one, so that hosts of
    /// an older Belay that pinned it keep reading the feed), and last root.json, the only
    /// file hosts look at first. Also how an expiring root is renewed with the same keys.
    /// </summary>
    public RootDocument Rotate(RotateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var feed = Path.GetFullPath(request.FeedDirectory);
        // Not judged for expiry: rotating is how an expired root is renewed.
        var current = LoadRoot(feed, now: null);
        var rootPath = Path.Combine(feed, FeedLayout.RootFile);
        var currentJson = _files.ReadAllBytes(rootPath);
        var oldKeys = RootTrust.RootKeys(current, rootPath);
        var newKeys = request.RootKeys is { Count: > 0 } given ? given.Distinct().ToList() : oldKeys;
        var threshold = request.Threshold ?? Math.Min(current.Root.Threshold, newKeys.Count);
        if (threshold < 1 || threshold > newKeys.Count)
        {
            throw new BelayException(ExitCodes.Usage, $"threshold {threshold} must be between 1 and the {newKeys.Count} root key(s) of the new root");
        }
        var releaseKeys = request.ReleaseKeys is { Count: > 0 } rk ? rk.Distinct().ToList() : FeedTrust.ReleaseKeys(current, rootPath);
        // The deploy role is kept as it is unless new keys are given; a feed without one gains it here.
        var deploy = request.DeployKeys is { Count: > 0 } dk
            ? new KeyRole { Threshold = 1, Keys = [.. dk.Distinct().Select(k => k.ToBase64())] }
            : current.Deploy;
        if (request.SigningKeys.Count == 0)
        {
            throw new BelayException(ExitCodes.Usage, "rotate needs the secret keys that sign the new root (--sign KEY, repeated): a threshold of the current root keys and of the new ones");
        }
        var next = new RootDocument
        {
            Product = current.Product,
            Version = current.Version + 1,
            Expires = Truncate(_clock.GetUtcNow() + (request.ExpiresIn ?? DefaultRootLifetime)),
            Root = new KeyRole { Threshold = threshold, Keys = [.. newKeys.Select(k => k.ToBase64())] },
            Release = new KeyRole { Threshold = 1, Keys = [.. releaseKeys.Select(k => k.ToBase64())] },
            Deploy = deploy,
        };
        var json = FeedJson.Serialize(next);
        var relative = FeedLayout.RootVersionFile(next.Version);
        var signatures = new List<(MinisignPublicKey Key, byte[] Signature)>();
        foreach (var key in request.SigningKeys.DistinctBy(k => k.PublicKey))
        {
            if (!oldKeys.Contains(key.PublicKey) && !newKeys.Contains(key.PublicKey))
            {
                throw BelayException.Trust($"key {key.PublicKey.KeyIdHex} is a root key of neither version {current.Version} ({string.Join(", ", oldKeys.Select(k => k.KeyIdHex))}) nor version {next.Version} ({string.Join(", ", newKeys.Select(k => k.KeyIdHex))})");
            }
            signatures.Add((key.PublicKey, key.Sign(json, TrustedComment(relative, $"root version {next.Version}")).ToFileBytes()));
        }
        // Exactly the host's check, before a byte is written.
        RootTrust.VerifySuccessor(current, json, [.. signatures.Select(s => s.Signature)], relative);

        var written = new Written(this, feed);
        var sigPath = rootPath + FeedLayout.SignatureSuffix;
        byte[]? oldSig = null;
        try
        {
            written.Folder(Path.Combine(feed, "root"));
            var currentVersioned = Path.Combine(feed, FeedLayout.RootVersionFile(current.Version));
            if (!_files.Exists(currentVersioned))
            {
                // A feed made before versioned roots: keep version N where hosts walking the chain find it.
                _files.WriteAtomically(currentVersioned, currentJson);
                written.File(currentVersioned);
                var currentSig = _files.ReadAllBytes(rootPath + FeedLayout.SignatureSuffix);
                var signer = MinisignSignature.Parse(currentSig);
                var signerKey = oldKeys.FirstOrDefault(k => k.KeyId.Span.SequenceEqual(signer.KeyId.Span));
                if (signerKey is not null)
                {
                    var perKey = Path.Combine(feed, FeedLayout.RootKeySignature(current.Version, signerKey));
                    _files.WriteAtomically(perKey, currentSig);
                    written.File(perKey);
                }
            }
            var versioned = Path.Combine(feed, relative);
            if (_files.Exists(versioned))
            {
                throw new BelayException($"{versioned} already exists: a half-finished rotation? Remove it (hosts never read it before root.json names it) and run rotate again");
            }
            foreach (var (key, signature) in signatures)
            {
                var path = Path.Combine(feed, FeedLayout.RootKeySignature(next.Version, key));
                _files.WriteAtomically(path, signature);
                written.File(path);
            }
            _files.WriteAtomically(versioned, json);
            written.File(versioned);

            // root.json last: from here on hosts see version N+1.
            var legacy = signatures.FirstOrDefault(s => oldKeys.Contains(s.Key) && newKeys.Contains(s.Key));
            if (legacy.Signature is null)
            {
                legacy = signatures.First(s => newKeys.Contains(s.Key));
            }
            oldSig = _files.ReadAllBytes(sigPath);
            _files.WriteAtomically(sigPath, legacy.Signature);
            _files.WriteAtomically(rootPath, json);
        }
        catch
        {
            // Back to version N as it was: root.json and its signature, then the staged files of N+1
            // (a versioned root left behind would stop the next rotation as "half-finished").
            if (oldSig is not null)
            {
                Restore(sigPath, oldSig);
                Restore(rootPath, currentJson);
            }
            written.Undo();
            throw;
        }
        _log($"wrote {FeedLayout.RootFile} version {next.Version} (root keys {string.Join(", ", newKeys.Select(k => k.KeyIdHex))}, threshold {threshold}; " +
            $"release keys {string.Join(", ", releaseKeys.Select(k => k.KeyIdHex))}; " +
            (deploy is null ? "no deploy keys; " : $"deploy keys {string.Join(", ", FeedTrust.DeployKeys(next, rootPath).Select(k => k.KeyIdHex))}; ") +
            $"signed by {string.Join(", ", signatures.Select(s => s.Key.KeyIdHex))}; expires {next.Expires:u})");
        if (!new HashSet<MinisignPublicKey>(FeedTrust.ReleaseKeys(current, rootPath)).SetEquals(releaseKeys))
        {
            _log("the release keys changed: hosts reset their manifest sequence watermark when they reach this root; sign the next publish with a new release key");
        }
        if (!RootTrust.SameRole(current.Deploy, deploy))
        {
            _log("the deploy keys changed: hosts reset their group sequence watermarks when they reach this root; sign the next deploy with a new deploy key");
        }
        return next;
    }
}
