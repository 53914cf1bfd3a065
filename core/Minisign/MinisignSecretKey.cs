using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Math.EC.Rfc8032;

namespace Belay.Core.Minisign;

/// <summary>
/// A minisign secret key and the signing it does.
/// <para>
/// The .key file is an untrusted comment line and base64 of: sig_alg "Ed" (2), kdf_alg (2:
/// "Sc" for scrypt, or two zero bytes when not encrypted), chk_alg "B2" (2), salt (32),
/// opslimit (8, LE), memlimit (8, LE), then key id (8), secret key (64: Ed25519 seed then
/// public key) and checksum (32: BLAKE2b-256 of sig_alg, key id, secret key; minisign -G -W
/// leaves it zero). When encrypted,
/// those last 104 bytes are XORed with 104 bytes of scrypt(password, salt) whose (N, r, p)
/// libsodium picks from opslimit and memlimit.
/// </para>
/// <para>
/// The key material sits in one pinned array (the GC never copies it); every intermediate
/// buffer that held it (decoded file, scrypt stream) is zeroed as soon as it is used.
/// </para>
/// </summary>
public sealed class MinisignSecretKey
{
    private const string EncryptedFileComment = "minisign encrypted secret key";
    private const string UnencryptedFileComment = "minisign secret key, not encrypted";

    private readonly byte[] _keyId;
    /// <summary>Seed (32) then public key (32), as libsodium lays out an Ed25519 secret key.</summary>
    private readonly byte[] _secretKey;

    private MinisignSecretKey(ReadOnlySpan<byte> keyId, ReadOnlySpan<byte> secretKey)
    {
        _keyId = keyId.ToArray();
        _secretKey = GC.AllocateUninitializedArray<byte>(MinisignFormat.SecretKeyBytes, pinned: true);
        secretKey.CopyTo(_secretKey);
        PublicKey = new MinisignPublicKey(_keyId, PublicKeyBytes);
    }

    /// <summary>The public half, to give to verifiers.</summary>
    public MinisignPublicKey PublicKey { get; }

    private ReadOnlySpan<byte> Seed => _secretKey.AsSpan(0, MinisignFormat.SeedBytes);
    private ReadOnlySpan<byte> PublicKeyBytes => _secretKey.AsSpan(MinisignFormat.SeedBytes);

    /// <summary>A new key: a random key id and a random Ed25519 key pair, as <c>minisign -G</c> makes.</summary>
    public static MinisignSecretKey Generate()
    {
        Span<byte> keyId = stackalloc byte[MinisignFormat.KeyIdBytes];
        Span<byte> secretKey = stackalloc byte[MinisignFormat.SecretKeyBytes];
        try
        {
            RandomNumberGenerator.Fill(keyId);
            RandomNumberGenerator.Fill(secretKey[..MinisignFormat.SeedBytes]);
            Ed25519.GeneratePublicKey(secretKey[..MinisignFormat.SeedBytes], secretKey[MinisignFormat.SeedBytes..]);
            return new MinisignSecretKey(keyId, secretKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secretKey);
        }
    }

    /// <summary>Whether the text of a .key file holds an encrypted (scrypt, "Sc") secret key.</summary>
    /// <exception cref="MinisignException">The text is not a minisign secret key.</exception>
    public static bool IsEncrypted(string fileText)
    {
        ArgumentNullException.ThrowIfNull(fileText);
        var blob = Decode(fileText);
        try
        {
            return blob.AsSpan(MinisignFormat.KdfAlgorithmOffset, MinisignFormat.AlgorithmBytes).SequenceEqual(MinisignFormat.ScryptAlgorithm);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(blob);
        }
    }

    /// <summary>
    /// Reads the text of a .key file: unencrypted (kdf two zero bytes, as <c>minisign -G -W</c>
    /// writes) or encrypted with scrypt ("Sc"). The checksum is checked whenever it is there (minisign -G -W
    /// leaves it zero), and the public half must be the one the seed gives.
    /// </summary>
    /// <exception cref="MinisignException"><see cref="MinisignFailure.PasswordRequired"/> when the key is encrypted and
    /// <paramref name="password"/> is null; <see cref="MinisignFailure.WrongPassword"/> when it does not decrypt the key;
    /// <see cref="MinisignFailure.MalformedKey"/> or <see cref="MinisignFailure.UnsupportedAlgorithm"/> otherwise.</exception>
    public static MinisignSecretKey Parse(string fileText, string? password = null)
    {
        ArgumentNullException.ThrowIfNull(fileText);
        var blob = Decode(fileText);
        try
        {
            var span = blob.AsSpan();
            var kdf = span.Slice(MinisignFormat.KdfAlgorithmOffset, MinisignFormat.AlgorithmBytes);
            var salt = span.Slice(MinisignFormat.SaltOffset, MinisignFormat.SaltBytes);
            var opsLimit = BinaryPrimitives.ReadUInt64LittleEndian(span.Slice(MinisignFormat.OpsLimitOffset, 8));
            var memLimit = BinaryPrimitives.ReadUInt64LittleEndian(span.Slice(MinisignFormat.MemLimitOffset, 8));
            var secret = span[MinisignFormat.EncryptedOffset..];
            var encrypted = kdf.SequenceEqual(MinisignFormat.ScryptAlgorithm);
            if (encrypted)
            {
                if (password is null)
                {
                    throw new MinisignException(MinisignFailure.PasswordRequired,
                        "the secret key is encrypted with a password; give the password to use it");
                }
                var limitsError = MinisignScrypt.CheckLimits(opsLimit, memLimit);
                if (limitsError is not null)
                {
                    throw new MinisignException(MinisignFailure.MalformedKey, $"the encrypted secret key cannot be decrypted: {limitsError}");
                }
                var stream = MinisignScrypt.DeriveStream(password, salt, opsLimit, memLimit, MinisignFormat.SecretKeyEncryptedBytes);
                Xor(secret, stream);
                CryptographicOperations.ZeroMemory(stream);
            }
            var keyId = secret[..MinisignFormat.KeyIdBytes];
            var secretKey = secret.Slice(MinisignFormat.KeyIdBytes, MinisignFormat.SecretKeyBytes);
            var checksum = secret[(MinisignFormat.KeyIdBytes + MinisignFormat.SecretKeyBytes)..];
            Span<byte> expected = stackalloc byte[MinisignFormat.ChecksumBytes];
            MinisignFormat.SecretKeyChecksum(keyId, secretKey, expected);
            // minisign -G -W never computes the checksum of an unencrypted key and leaves it zero
            // (and minisign only checks it after decrypting); the seed check below still catches damage.
            var noChecksum = !encrypted && !checksum.ContainsAnyExcept((byte)0);
            if (!noChecksum && !CryptographicOperations.FixedTimeEquals(expected, checksum))
            {
                throw encrypted
                    ? new MinisignException(MinisignFailure.WrongPassword, "wrong password for this secret key (its checksum does not match after decryption)")
                    : new MinisignException(MinisignFailure.MalformedKey, "the secret key's checksum does not match: the file is damaged; restore it from a backup");
            }
            CryptographicOperations.ZeroMemory(expected);
            Span<byte> derived = stackalloc byte[MinisignFormat.PublicKeyBytes];
            Ed25519.GeneratePublicKey(secretKey[..MinisignFormat.SeedBytes], derived);
            if (!derived.SequenceEqual(secretKey[MinisignFormat.SeedBytes..]))
            {
                throw new MinisignException(MinisignFailure.MalformedKey,
                    "the secret key is inconsistent: its public half is not the one its seed gives; the file is damaged");
            }
            return new MinisignSecretKey(keyId, secretKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(blob);
        }
    }

    /// <summary>Reads a .key file. See <see cref="Parse"/>.</summary>
    /// <exception cref="MinisignException">As <see cref="Parse"/>; the message names the file.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static MinisignSecretKey Load(string path, string? password = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var text = File.ReadAllText(path);
        try
        {
            return Parse(text, password);
        }
        catch (MinisignException e)
        {
            throw new MinisignException(e.Failure, $"{path}: {e.Message}", e);
        }
    }

    /// <summary>
    /// The text of a .key file that minisign 0.11 reads. Without a password the key is written
    /// unencrypted, as <c>minisign -G -W</c> does (kdf two zero bytes, salt and limits zero;
    /// the checksum is filled in, where minisign -W leaves it zero and never reads it).
    /// With one it is encrypted as <c>minisign -G</c> does: a random salt, the limits stored as
    /// given, scrypt with libsodium's parameter choice. The defaults are minisign's (scrypt with
    /// N=2^20, r=8, p=1: 1 GiB of memory, seconds of work); smaller limits make a weaker key.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The limits give scrypt parameters that cannot be used.</exception>
    public string ToFileText(string? password = null, ulong opsLimit = MinisignScrypt.SensitiveOpsLimit, ulong memLimit = MinisignScrypt.SensitiveMemLimit)
    {
        var blob = new byte[MinisignFormat.SecretKeyStructBytes];
        try
        {
            var span = blob.AsSpan();
            MinisignFormat.LegacyAlgorithm.CopyTo(span);
            MinisignFormat.Blake2bAlgorithm.CopyTo(span[MinisignFormat.ChecksumAlgorithmOffset..]);
            var secret = span[MinisignFormat.EncryptedOffset..];
            _keyId.CopyTo(secret);
            _secretKey.CopyTo(secret[MinisignFormat.KeyIdBytes..]);
            MinisignFormat.SecretKeyChecksum(_keyId, _secretKey, secret[(MinisignFormat.KeyIdBytes + MinisignFormat.SecretKeyBytes)..]);
            if (password is null)
            {
                MinisignFormat.NoKdfAlgorithm.CopyTo(span[MinisignFormat.KdfAlgorithmOffset..]);
            }
            else
            {
                var limitsError = MinisignScrypt.CheckLimits(opsLimit, memLimit);
                if (limitsError is not null)
                {
                    throw new ArgumentOutOfRangeException(nameof(opsLimit), limitsError);
                }
                MinisignFormat.ScryptAlgorithm.CopyTo(span[MinisignFormat.KdfAlgorithmOffset..]);
                var salt = span.Slice(MinisignFormat.SaltOffset, MinisignFormat.SaltBytes);
                RandomNumberGenerator.Fill(salt);
                BinaryPrimitives.WriteUInt64LittleEndian(span.Slice(MinisignFormat.OpsLimitOffset, 8), opsLimit);
                BinaryPrimitives.WriteUInt64LittleEndian(span.Slice(MinisignFormat.MemLimitOffset, 8), memLimit);
                var stream = MinisignScrypt.DeriveStream(password, salt, opsLimit, memLimit, MinisignFormat.SecretKeyEncryptedBytes);
                Xor(secret, stream);
                CryptographicOperations.ZeroMemory(stream);
            }
            var comment = password is null ? UnencryptedFileComment : EncryptedFileComment;
            return $"{MinisignFormat.UntrustedCommentPrefix}{comment}\n{Convert.ToBase64String(blob)}\n";
        }
        finally
        {
            CryptographicOperations.ZeroMemory(blob);
        }
    }

    /// <summary>
    /// Signs everything left in <paramref name="data"/>. Prehashed ("ED", the default) streams it
    /// through BLAKE2b-512; legacy ("Ed") reads it all into memory.
    /// </summary>
    /// <param name="trustedComment">Signed with the global signature. Null or empty: minisign's default,
    /// "timestamp:&lt;now&gt;" then "\thashed" when prehashed (use <see cref="SignFile"/> or pass
    /// <see cref="MinisignSignature.DefaultTrustedComment"/> to name the file).</param>
    /// <param name="untrustedComment">Not signed. Null: "signature from minisign secret key".</param>
    /// <param name="prehash">True for "ED" signatures, false for legacy "Ed".</param>
    /// <exception cref="ArgumentException">A comment holds a line break or NUL, or is longer than minisign reads.</exception>
    public MinisignSignature Sign(Stream data, string? trustedComment = null, string? untrustedComment = null, bool prehash = true)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (prehash)
        {
            Span<byte> hash = stackalloc byte[MinisignFormat.PrehashBytes];
            MinisignFormat.Blake2b512(data, hash);
            return SignMessage(hash, trustedComment, untrustedComment, prehashed: true, fileName: null);
        }
        return SignMessage(MinisignFormat.ReadAll(data), trustedComment, untrustedComment, prehashed: false, fileName: null);
    }

    /// <summary>Signs <paramref name="data"/>. See <see cref="Sign(Stream, string?, string?, bool)"/>.</summary>
    public MinisignSignature Sign(ReadOnlySpan<byte> data, string? trustedComment = null, string? untrustedComment = null, bool prehash = true)
    {
        if (prehash)
        {
            Span<byte> hash = stackalloc byte[MinisignFormat.PrehashBytes];
            MinisignFormat.Blake2b512(data, hash);
            return SignMessage(hash, trustedComment, untrustedComment, prehashed: true, fileName: null);
        }
        return SignMessage(data, trustedComment, untrustedComment, prehashed: false, fileName: null);
    }

    /// <summary>
    /// Signs the file at <paramref name="path"/>, as <c>minisign -S -m path</c> does: without a
    /// trusted comment the default names the file ("timestamp:&lt;now&gt;\tfile:&lt;name&gt;\thashed").
    /// The signature is returned, not written.
    /// </summary>
    public MinisignSignature SignFile(string path, string? trustedComment = null, string? untrustedComment = null, bool prehash = true)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var data = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        if (prehash)
        {
            Span<byte> hash = stackalloc byte[MinisignFormat.PrehashBytes];
            MinisignFormat.Blake2b512(data, hash);
            return SignMessage(hash, trustedComment, untrustedComment, prehashed: true, fileName: path);
        }
        return SignMessage(MinisignFormat.ReadAll(data), trustedComment, untrustedComment, prehashed: false, fileName: path);
    }

    private MinisignSignature SignMessage(ReadOnlySpan<byte> message, string? trustedComment, string? untrustedComment,
        bool prehashed, string? fileName)
    {
        if (string.IsNullOrEmpty(trustedComment))
        {
            trustedComment = MinisignSignature.DefaultTrustedComment(DateTimeOffset.UtcNow, fileName, prehashed);
        }
        untrustedComment ??= MinisignFormat.DefaultSignatureComment;
        var trusted = CheckComment(trustedComment, MinisignFormat.MaxTrustedCommentBytes, nameof(trustedComment));
        CheckComment(untrustedComment, MinisignFormat.MaxUntrustedCommentBytes, nameof(untrustedComment));

        Span<byte> signature = stackalloc byte[MinisignFormat.SignatureBytes];
        Ed25519.Sign(Seed, PublicKeyBytes, message, signature);
        var signed = new byte[MinisignFormat.SignatureBytes + trusted.Length];
        signature.CopyTo(signed);
        trusted.CopyTo(signed, MinisignFormat.SignatureBytes);
        Span<byte> global = stackalloc byte[MinisignFormat.SignatureBytes];
        Ed25519.Sign(Seed, PublicKeyBytes, signed, global);
        return new MinisignSignature(prehashed, _keyId, signature, untrustedComment, trusted, global);
    }

    private static byte[] CheckComment(string comment, int maxBytes, string parameterName)
    {
        if (comment.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            throw new ArgumentException("a minisign comment is one line: it cannot hold CR, LF or NUL", parameterName);
        }
        var bytes = Encoding.UTF8.GetBytes(comment);
        if (bytes.Length > maxBytes)
        {
            throw new ArgumentException($"the comment is {bytes.Length} bytes of UTF-8; minisign reads at most {maxBytes}", parameterName);
        }
        return bytes;
    }

    private static void Xor(Span<byte> target, ReadOnlySpan<byte> stream)
    {
        for (var i = 0; i < target.Length; i++)
        {
            target[i] ^= stream[i];
        }
    }

    /// <summary>Decodes a .key file's base64 into the 158-byte struct and checks its algorithms.</summary>
    private static byte[] Decode(string fileText)
    {
        var lineError = MinisignFormat.TryFindKeyLine(fileText, "secret key", out var line);
        if (lineError is not null)
        {
            throw new MinisignException(MinisignFailure.MalformedKey, lineError + ". Give the whole .key file that minisign -G or belay-release keygen wrote");
        }
        var blob = new byte[MinisignFormat.SecretKeyStructBytes];
        var error = MinisignFormat.TryDecodeBase64(line, blob);
        if (error is not null)
        {
            CryptographicOperations.ZeroMemory(blob);
            throw new MinisignException(MinisignFailure.MalformedKey,
                $"not a minisign secret key: {error}; a secret key is {MinisignFormat.SecretKeyStructBytes} bytes in 212 base64 characters. " +
                "Give the whole .key file that minisign -G or belay-release keygen wrote");
        }
        var algorithm = blob.AsSpan(0, MinisignFormat.AlgorithmBytes);
        var kdf = blob.AsSpan(MinisignFormat.KdfAlgorithmOffset, MinisignFormat.AlgorithmBytes);
        var checksum = blob.AsSpan(MinisignFormat.ChecksumAlgorithmOffset, MinisignFormat.AlgorithmBytes);
        string? unsupported = null;
        if (!algorithm.SequenceEqual(MinisignFormat.LegacyAlgorithm))
        {
            unsupported = $"unsupported signature algorithm {MinisignFormat.DescribeAlgorithm(algorithm)} (minisign keys are \"Ed\")";
        }
        else if (!checksum.SequenceEqual(MinisignFormat.Blake2bAlgorithm))
        {
            unsupported = $"unsupported checksum algorithm {MinisignFormat.DescribeAlgorithm(checksum)} (minisign uses \"B2\")";
        }
        else if (!kdf.SequenceEqual(MinisignFormat.ScryptAlgorithm) && !kdf.SequenceEqual(MinisignFormat.NoKdfAlgorithm))
        {
            unsupported = $"unsupported key derivation {MinisignFormat.DescribeAlgorithm(kdf)} (minisign uses \"Sc\", or none)";
        }
        if (unsupported is not null)
        {
            CryptographicOperations.ZeroMemory(blob);
            throw new MinisignException(MinisignFailure.UnsupportedAlgorithm, "this secret key cannot be used: " + unsupported);
        }
        return blob;
    }
}
