using Org.BouncyCastle.Math.EC.Rfc8032;

namespace Belay.Core.Minisign;

/// <summary>
/// Verifies minisign signatures the way <c>minisign -V</c> does, check by check, and throws a
/// <see cref="MinisignException"/> naming the first check that fails:
/// <list type="number">
/// <item>a legacy ("Ed") signature when legacy is not allowed: <see cref="MinisignFailure.LegacyNotAllowed"/>;</item>
/// <item>the signature's key id against the key's: <see cref="MinisignFailure.KeyIdMismatch"/>;</item>
/// <item>Ed25519 over the BLAKE2b-512 hash of the data ("ED") or the data ("Ed"): <see cref="MinisignFailure.SignatureInvalid"/>;</item>
/// <item>Ed25519 over the signature followed by the trusted comment: <see cref="MinisignFailure.TrustedCommentInvalid"/>.</item>
/// </list>
/// Only after the last check may the trusted comment be believed.
/// </summary>
public static class MinisignVerifier
{
    /// <summary>Verifies a signature of everything left in <paramref name="data"/>, streamed through BLAKE2b-512 when prehashed.</summary>
    /// <exception cref="MinisignException">A check failed; <see cref="MinisignException.Failure"/> says which.</exception>
    public static void Verify(MinisignPublicKey key, Stream data, MinisignSignature signature, bool allowLegacy = true)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(signature);
        CheckLegacy(signature, allowLegacy);
        CheckKeyId(key, signature);
        VerifyAgainst([key], data, signature);
    }

    /// <summary>Verifies a signature of <paramref name="data"/>.</summary>
    /// <exception cref="MinisignException">A check failed; <see cref="MinisignException.Failure"/> says which.</exception>
    public static void Verify(MinisignPublicKey key, ReadOnlySpan<byte> data, MinisignSignature signature, bool allowLegacy = true)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(signature);
        CheckLegacy(signature, allowLegacy);
        CheckKeyId(key, signature);
        VerifyAgainst([key], data, signature);
    }

    /// <summary>
    /// Verifies with the trusted key whose id the signature names, and returns that key.
    /// </summary>
    /// <exception cref="MinisignException"><see cref="MinisignFailure.KeyIdMismatch"/> when no trusted key has the
    /// signature's key id; otherwise as the single-key <c>Verify</c>.</exception>
    public static MinisignPublicKey Verify(IReadOnlyCollection<MinisignPublicKey> trusted, Stream data, MinisignSignature signature, bool allowLegacy = true)
    {
        ArgumentNullException.ThrowIfNull(trusted);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(signature);
        CheckLegacy(signature, allowLegacy);
        return VerifyAgainst(Candidates(trusted, signature), data, signature);
    }

    /// <summary>Verifies with the trusted key whose id the signature names, and returns that key.</summary>
    /// <exception cref="MinisignException">As the <see cref="Stream"/> overload.</exception>
    public static MinisignPublicKey Verify(IReadOnlyCollection<MinisignPublicKey> trusted, ReadOnlySpan<byte> data, MinisignSignature signature, bool allowLegacy = true)
    {
        ArgumentNullException.ThrowIfNull(trusted);
        ArgumentNullException.ThrowIfNull(signature);
        CheckLegacy(signature, allowLegacy);
        return VerifyAgainst(Candidates(trusted, signature), data, signature);
    }

    private static void CheckLegacy(MinisignSignature signature, bool allowLegacy)
    {
        if (!signature.Prehashed && !allowLegacy)
        {
            throw new MinisignException(MinisignFailure.LegacyNotAllowed,
                "legacy (\"Ed\", not prehashed) signature refused: only prehashed (\"ED\") signatures are accepted here; " +
                "sign again with minisign 0.11 or later without -l, or with belay-release sign");
        }
    }

    private static void CheckKeyId(MinisignPublicKey key, MinisignSignature signature)
    {
        if (!key.HasKeyId(signature.KeyIdSpan))
        {
            throw new MinisignException(MinisignFailure.KeyIdMismatch,
                $"key id mismatch: the signature was made by key {signature.KeyIdHex}, but the public key is {key.KeyIdHex}; " +
                "verify with the signer's public key");
        }
    }

    private static List<MinisignPublicKey> Candidates(IReadOnlyCollection<MinisignPublicKey> trusted, MinisignSignature signature)
    {
        var candidates = new List<MinisignPublicKey>();
        foreach (var key in trusted)
        {
            if (key.HasKeyId(signature.KeyIdSpan))
            {
                candidates.Add(key);
            }
        }
        if (candidates.Count == 0)
        {
            var ids = trusted.Count == 0 ? "none" : string.Join(", ", trusted.Select(k => k.KeyIdHex));
            throw new MinisignException(MinisignFailure.KeyIdMismatch,
                $"key id mismatch: the signature was made by key {signature.KeyIdHex}, which is not a trusted key (trusted: {ids})");
        }
        return candidates;
    }

    private static MinisignPublicKey VerifyAgainst(List<MinisignPublicKey> candidates, Stream data, MinisignSignature signature)
    {
        if (signature.Prehashed)
        {
            Span<byte> hash = stackalloc byte[MinisignFormat.PrehashBytes];
            MinisignFormat.Blake2b512(data, hash);
            return VerifyMessage(candidates, hash, signature);
        }
        return VerifyMessage(candidates, MinisignFormat.ReadAll(data), signature);
    }

    private static MinisignPublicKey VerifyAgainst(List<MinisignPublicKey> candidates, ReadOnlySpan<byte> data, MinisignSignature signature)
    {
        if (signature.Prehashed)
        {
            Span<byte> hash = stackalloc byte[MinisignFormat.PrehashBytes];
            MinisignFormat.Blake2b512(data, hash);
            return VerifyMessage(candidates, hash, signature);
        }
        return VerifyMessage(candidates, data, signature);
    }

    /// <summary>
    /// Checks the file signature, then the global signature, with each candidate in turn (two
    /// trusted keys sharing a key id is odd, but then either may have signed).
    /// </summary>
    private static MinisignPublicKey VerifyMessage(List<MinisignPublicKey> candidates, ReadOnlySpan<byte> message, MinisignSignature signature)
    {
        MinisignException? first = null;
        foreach (var key in candidates)
        {
            var failure = Check(key, message, signature);
            if (failure is null)
            {
                return key;
            }
            first ??= failure;
        }
        throw first!;
    }

    private static MinisignException? Check(MinisignPublicKey key, ReadOnlySpan<byte> message, MinisignSignature signature)
    {
        if (!Ed25519.Verify(signature.SignatureSpan, key.KeySpan, message))
        {
            return new MinisignException(MinisignFailure.SignatureInvalid,
                $"signature verification failed: the {(signature.Prehashed ? "file's BLAKE2b-512 hash" : "file")} does not match " +
                $"the signature by key {key.KeyIdHex}; the file or its signature was changed after signing");
        }
        var trusted = signature.TrustedCommentBytes;
        var signed = new byte[MinisignFormat.SignatureBytes + trusted.Length];
        signature.SignatureSpan.CopyTo(signed);
        trusted.CopyTo(signed.AsSpan(MinisignFormat.SignatureBytes));
        if (!Ed25519.Verify(signature.GlobalSignatureSpan, key.KeySpan, signed))
        {
            return new MinisignException(MinisignFailure.TrustedCommentInvalid,
                "trusted comment verification failed: the global signature does not cover this trusted comment; " +
                "the trusted comment or the global signature was changed after signing");
        }
        return null;
    }
}
