using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Org.BouncyCastle.Crypto.Digests;

namespace Belay.Core.Minisign;

/// <summary>
/// The byte layout of minisign 0.11 files and the small codecs they share. Every length and
/// limit here mirrors minisign.h and minisign.c, so that a file is accepted here exactly when
/// minisign accepts it (the line limits are minisign's fgets buffer sizes).
/// </summary>
internal static class MinisignFormat
{
    public const int AlgorithmBytes = 2;
    public const int KeyIdBytes = 8;
    public const int PublicKeyBytes = 32;
    public const int SeedBytes = 32;
    /// <summary>libsodium's Ed25519 secret key: the 32-byte seed followed by the 32-byte public key.</summary>
    public const int SecretKeyBytes = SeedBytes + PublicKeyBytes;
    public const int SignatureBytes = 64;
    public const int ChecksumBytes = 32;
    public const int SaltBytes = 32;
    public const int PrehashBytes = 64;

    /// <summary>"Ed" + key id + public key.</summary>
    public const int PublicKeyStructBytes = AlgorithmBytes + KeyIdBytes + PublicKeyBytes;
    /// <summary>"ED"/"Ed" + key id + signature.</summary>
    public const int SignatureStructBytes = AlgorithmBytes + KeyIdBytes + SignatureBytes;
    /// <summary>The part of a secret key that the password's scrypt stream is XORed with: key id, secret key, checksum.</summary>
    public const int SecretKeyEncryptedBytes = KeyIdBytes + SecretKeyBytes + ChecksumBytes;
    /// <summary>sig_alg, kdf_alg, chk_alg, salt, opslimit, memlimit, then the encrypted part.</summary>
    public const int SecretKeyStructBytes = 3 * AlgorithmBytes + SaltBytes + 8 + 8 + SecretKeyEncryptedBytes;

    // Where each field of the secret key struct starts.
    public const int KdfAlgorithmOffset = AlgorithmBytes;
    public const int ChecksumAlgorithmOffset = KdfAlgorithmOffset + AlgorithmBytes;
    public const int SaltOffset = ChecksumAlgorithmOffset + AlgorithmBytes;
    public const int OpsLimitOffset = SaltOffset + SaltBytes;
    public const int MemLimitOffset = OpsLimitOffset + 8;
    public const int EncryptedOffset = MemLimitOffset + 8;

    public const string UntrustedCommentPrefix = "untrusted comment: ";
    public const string TrustedCommentPrefix = "trusted comment: ";
    public const string DefaultSignatureComment = "signature from minisign secret key";

    /// <summary>
    /// minisign reads the untrusted comment line with a 1024-byte fgets buffer: the whole line,
    /// its prefix and newline included, must fit in 1023 bytes.
    /// </summary>
    public const int MaxUntrustedCommentBytes = 1023 - 1 - 19;

    /// <summary>
    /// minisign reads the trusted comment line with an 8192-byte buffer and refuses to sign a
    /// trusted comment of 8192 - sizeof "trusted comment: " bytes or more.
    /// </summary>
    public const int MaxTrustedCommentBytes = 8191 - 1 - 17;

    public static ReadOnlySpan<byte> LegacyAlgorithm => "Ed"u8;
    public static ReadOnlySpan<byte> PrehashedAlgorithm => "ED"u8;
    public static ReadOnlySpan<byte> ScryptAlgorithm => "Sc"u8;
    public static ReadOnlySpan<byte> NoKdfAlgorithm => [0, 0];
    public static ReadOnlySpan<byte> Blake2bAlgorithm => "B2"u8;

    /// <summary>
    /// The key id as minisign prints it (<c>"%" PRIX64</c>): the little-endian uint64 in uppercase hex
    /// without leading zeros, so one key in sixteen has fewer than 16 digits.
    /// </summary>
    public static string KeyIdHex(ReadOnlySpan<byte> keyId) =>
        BinaryPrimitives.ReadUInt64LittleEndian(keyId).ToString("X", CultureInfo.InvariantCulture);

    /// <summary>Shows a 2-byte algorithm tag for an error message: "Ed", or hex when not printable.</summary>
    public static string DescribeAlgorithm(ReadOnlySpan<byte> tag)
    {
        foreach (var b in tag)
        {
            if (b is < 0x21 or > 0x7e)
            {
                return "0x" + Convert.ToHexString(tag);
            }
        }
        return "\"" + Encoding.ASCII.GetString(tag) + "\"";
    }

    /// <summary>
    /// Decodes base64 the way minisign's b64_to_bin does: standard alphabet, length a multiple
    /// of four, '=' only as final padding, no whitespace. Returns null on success, or what is wrong.
    /// </summary>
    public static string? TryDecodeBase64(ReadOnlySpan<char> text, Span<byte> destination)
    {
        if (text.IsEmpty)
        {
            return "it is empty";
        }
        if (text.Length % 4 != 0)
        {
            return $"its length {text.Length} is not a multiple of 4, so it is not base64";
        }
        var padding = text.EndsWith("==", StringComparison.Ordinal) ? 2 : text.EndsWith('=') ? 1 : 0;
        var body = text[..^padding];
        for (var i = 0; i < body.Length; i++)
        {
            if (!IsBase64Char(body[i]))
            {
                return $"character {i + 1} ('{Printable(body[i])}') is not base64";
            }
        }
        var decodedLength = text.Length / 4 * 3 - padding;
        if (decodedLength != destination.Length)
        {
            return $"it decodes to {decodedLength} bytes instead of {destination.Length}";
        }
        return Convert.TryFromBase64Chars(text, destination, out var written) && written == destination.Length
            ? null
            : "it is not valid base64";
    }

    private static bool IsBase64Char(char c) => c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '+' or '/';

    private static string Printable(char c) => c is < ' ' or > '~' ? $"\\u{(int)c:X4}" : c.ToString();

    /// <summary>
    /// Splits a key file's text into its base64 line: the text is either the bare base64 line or
    /// an "untrusted comment:" line followed by it (a .pub or .key file). Surrounding whitespace is ignored.
    /// </summary>
    public static string? TryFindKeyLine(string text, string what, out string line)
    {
        line = "";
        var lines = text.Trim().TrimStart('\uFEFF').Split('\n');
        if (lines.Length == 1 && lines[0].Length == 0)
        {
            return $"the {what} is empty";
        }
        if (lines[0].TrimStart().StartsWith("untrusted comment:", StringComparison.Ordinal))
        {
            if (lines.Length < 2 || lines[1].Trim().Length == 0)
            {
                return $"the {what} file has its comment line but no key line after it";
            }
            line = lines[1].Trim();
            return null;
        }
        if (lines.Length > 1)
        {
            return $"expected the {what} as a single base64 line, or a file whose first line starts with " +
                "'untrusted comment:' and whose second line is the key";
        }
        line = lines[0].Trim();
        return null;
    }

    public static void Blake2b512(ReadOnlySpan<byte> data, Span<byte> hash)
    {
        var digest = new Blake2bDigest(512);
        digest.BlockUpdate(data);
        digest.DoFinal(hash);
    }

    /// <summary>BLAKE2b-512 of the rest of <paramref name="data"/>, as minisign prehashes a file.</summary>
    public static void Blake2b512(Stream data, Span<byte> hash)
    {
        var digest = new Blake2bDigest(512);
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int n;
            while ((n = data.Read(buffer, 0, buffer.Length)) > 0)
            {
                digest.BlockUpdate(buffer.AsSpan(0, n));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        digest.DoFinal(hash);
    }

    /// <summary>The secret key checksum: BLAKE2b-256(sig_alg || key id || secret key).</summary>
    public static void SecretKeyChecksum(ReadOnlySpan<byte> keyId, ReadOnlySpan<byte> secretKey, Span<byte> checksum)
    {
        var digest = new Blake2bDigest(256);
        digest.BlockUpdate(LegacyAlgorithm);
        digest.BlockUpdate(keyId);
        digest.BlockUpdate(secretKey);
        digest.DoFinal(checksum);
    }

    /// <summary>Reads all of <paramref name="data"/> into memory, for legacy (not prehashed) signatures.</summary>
    public static byte[] ReadAll(Stream data)
    {
        using var copy = new MemoryStream();
        data.CopyTo(copy);
        return copy.ToArray();
    }
}
