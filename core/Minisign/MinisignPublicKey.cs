using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace Belay.Core.Minisign;

/// <summary>
/// A minisign public key: base64("Ed" || key id (8 bytes) || Ed25519 public key (32 bytes)),
/// usually the second line of a .pub file whose first line is an untrusted comment.
/// </summary>
public sealed class MinisignPublicKey : IEquatable<MinisignPublicKey>
{
    private readonly byte[] _keyId;
    private readonly byte[] _key;

    internal MinisignPublicKey(ReadOnlySpan<byte> keyId, ReadOnlySpan<byte> key)
    {
        _keyId = keyId.ToArray();
        _key = key.ToArray();
        KeyIdHex = MinisignFormat.KeyIdHex(_keyId);
    }

    /// <summary>The 8-byte key id that signatures made by this key carry.</summary>
    public ReadOnlyMemory<byte> KeyId => _keyId;

    /// <summary>The key id as minisign prints it: uppercase hex of the little-endian uint64, without leading zeros.</summary>
    public string KeyIdHex { get; }

    /// <summary>The 32-byte Ed25519 public key.</summary>
    public ReadOnlyMemory<byte> Key => _key;

    internal ReadOnlySpan<byte> KeyIdSpan => _keyId;
    internal ReadOnlySpan<byte> KeySpan => _key;

    /// <summary>
    /// Reads a public key from the bare base64 line (as given to <c>minisign -P</c>) or from the
    /// whole text of a .pub file; surrounding whitespace is ignored.
    /// </summary>
    /// <exception cref="MinisignException">The text is not a minisign public key (<see cref="MinisignFailure.MalformedKey"/>,
    /// or <see cref="MinisignFailure.UnsupportedAlgorithm"/>).</exception>
    public static MinisignPublicKey Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var (key, failure, error) = ParseCore(text);
        return key ?? throw new MinisignException(failure, error!);
    }

    /// <summary>Like <see cref="Parse"/>, but reports what is wrong in <paramref name="error"/> instead of throwing.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out MinisignPublicKey? key, [NotNullWhen(false)] out string? error)
    {
        if (text is null)
        {
            key = null;
            error = "no public key was given";
            return false;
        }
        (key, _, error) = ParseCore(text);
        return key is not null;
    }

    /// <summary>Reads a .pub file.</summary>
    /// <exception cref="MinisignException">The file does not hold a minisign public key.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static MinisignPublicKey Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var (key, failure, error) = ParseCore(File.ReadAllText(path));
        return key ?? throw new MinisignException(failure, $"{path}: {error}");
    }

    /// <summary>
    /// A key given the way a command line gives it: the base64 line itself, or the path of a .pub file.
    /// </summary>
    /// <exception cref="MinisignException">It is neither a public key nor the path of a file that holds one.</exception>
    /// <exception cref="IOException">It names a file that cannot be read.</exception>
    public static MinisignPublicKey ParseOrLoad(string keyOrPath)
    {
        ArgumentNullException.ThrowIfNull(keyOrPath);
        var (key, failure, error) = ParseCore(keyOrPath);
        if (key is not null)
        {
            return key;
        }
        if (File.Exists(keyOrPath))
        {
            return Load(keyOrPath);
        }
        // A key line is base64: no '/' before its last characters, no ".pub". What looks like a
        // path is one, and the problem is that it does not exist, not its base64.
        if (LooksLikePath(keyOrPath))
        {
            throw new MinisignException(MinisignFailure.MalformedKey,
                Directory.Exists(keyOrPath)
                    ? $"{keyOrPath} is a folder; give the .pub file in it (like {Path.Combine(keyOrPath, "root.pub")}) or the key's base64 line"
                    : $"no such file: {keyOrPath} (give a .pub file, or the key's base64 line as minisign -G prints it)");
        }
        throw new MinisignException(failure,
            $"'{keyOrPath}' is neither a minisign public key nor an existing .pub file ({error})");
    }

    private static bool LooksLikePath(string text) =>
        text.EndsWith(".pub", StringComparison.OrdinalIgnoreCase) || text.StartsWith('.') || text.StartsWith('~') ||
        text.Contains('\\', StringComparison.Ordinal) || (text.Length != 56 && text.Contains('/', StringComparison.Ordinal)) ||
        Directory.Exists(text);

    /// <summary>The base64 line, as <c>minisign -P</c> takes it.</summary>
    public string ToBase64()
    {
        Span<byte> blob = stackalloc byte[MinisignFormat.PublicKeyStructBytes];
        MinisignFormat.LegacyAlgorithm.CopyTo(blob);
        _keyId.CopyTo(blob[MinisignFormat.AlgorithmBytes..]);
        _key.CopyTo(blob[(MinisignFormat.AlgorithmBytes + MinisignFormat.KeyIdBytes)..]);
        return Convert.ToBase64String(blob);
    }

    /// <summary>The text of a .pub file exactly as <c>minisign -G</c> writes it.</summary>
    public string ToFileText() =>
        $"{MinisignFormat.UntrustedCommentPrefix}minisign public key {KeyIdHex}\n{ToBase64()}\n";

    public override string ToString() => ToBase64();

    public bool Equals(MinisignPublicKey? other) =>
        other is not null && _keyId.AsSpan().SequenceEqual(other._keyId) && _key.AsSpan().SequenceEqual(other._key);

    public override bool Equals(object? obj) => Equals(obj as MinisignPublicKey);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_keyId);
        hash.AddBytes(_key);
        return hash.ToHashCode();
    }

    public static bool operator ==(MinisignPublicKey? left, MinisignPublicKey? right) =>
        left is null ? right is null : left.Equals(right);

    public static bool operator !=(MinisignPublicKey? left, MinisignPublicKey? right) => !(left == right);

    private static (MinisignPublicKey? Key, MinisignFailure Failure, string? Error) ParseCore(string text)
    {
        var lineError = MinisignFormat.TryFindKeyLine(text, "public key", out var line);
        if (lineError is not null)
        {
            return (null, MinisignFailure.MalformedKey, lineError + ". Give the key line from a .pub file (it starts with RW), or the whole file");
        }
        Span<byte> blob = stackalloc byte[MinisignFormat.PublicKeyStructBytes];
        var base64Error = MinisignFormat.TryDecodeBase64(line, blob);
        if (base64Error is not null)
        {
            return (null, MinisignFailure.MalformedKey,
                $"not a minisign public key: {base64Error}; a public key is {MinisignFormat.PublicKeyStructBytes} bytes " +
                "(\"Ed\", 8-byte key id, 32-byte Ed25519 key) in 56 base64 characters starting with RW. " +
                "Give the key line from a .pub file, or the whole file");
        }
        var algorithm = blob[..MinisignFormat.AlgorithmBytes];
        if (!algorithm.SequenceEqual(MinisignFormat.LegacyAlgorithm))
        {
            return (null, MinisignFailure.UnsupportedAlgorithm,
                $"unsupported public key algorithm {MinisignFormat.DescribeAlgorithm(algorithm)}: minisign public keys start with \"Ed\" (base64 RW)");
        }
        var keyId = blob.Slice(MinisignFormat.AlgorithmBytes, MinisignFormat.KeyIdBytes);
        var key = blob[(MinisignFormat.AlgorithmBytes + MinisignFormat.KeyIdBytes)..];
        return (new MinisignPublicKey(keyId, key), default, null);
    }

    internal bool HasKeyId(ReadOnlySpan<byte> keyId) => CryptographicOperations.FixedTimeEquals(_keyId, keyId);
}
