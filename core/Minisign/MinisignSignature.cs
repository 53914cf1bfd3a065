using System.Globalization;
using System.Text;

namespace Belay.Core.Minisign;

/// <summary>
/// A minisign signature file (.minisig), four lines:
/// <code>
/// untrusted comment: &lt;anything, not signed&gt;
/// base64(alg "ED" or "Ed" || key id (8) || signature (64))
/// trusted comment: &lt;signed by the global signature&gt;
/// base64(global signature (64))
/// </code>
/// "ED" signs the BLAKE2b-512 hash of the file (prehashed); the legacy "Ed" signs the file
/// itself. The global signature signs the file signature followed by the trusted comment's
/// bytes, so the trusted comment (a timestamp, the file name) cannot be swapped.
/// </summary>
public sealed class MinisignSignature
{
    private readonly byte[] _keyId;
    private readonly byte[] _signature;
    private readonly byte[] _trustedComment;
    private readonly byte[] _globalSignature;

    internal MinisignSignature(bool prehashed, ReadOnlySpan<byte> keyId, ReadOnlySpan<byte> signature,
        string untrustedComment, ReadOnlySpan<byte> trustedComment, ReadOnlySpan<byte> globalSignature)
    {
        Prehashed = prehashed;
        _keyId = keyId.ToArray();
        _signature = signature.ToArray();
        _trustedComment = trustedComment.ToArray();
        _globalSignature = globalSignature.ToArray();
        UntrustedComment = untrustedComment;
        TrustedComment = Encoding.UTF8.GetString(_trustedComment);
        KeyIdHex = MinisignFormat.KeyIdHex(_keyId);
    }

    /// <summary>True for "ED" (the BLAKE2b-512 hash of the file is signed), false for legacy "Ed" (the file itself).</summary>
    public bool Prehashed { get; }

    /// <summary>The id of the key that made the signature.</summary>
    public ReadOnlyMemory<byte> KeyId => _keyId;

    /// <summary>The key id as minisign prints it: uppercase hex of the little-endian uint64, without leading zeros.</summary>
    public string KeyIdHex { get; }

    /// <summary>The first line after "untrusted comment: ". Not signed: anyone can change it.</summary>
    public string UntrustedComment { get; }

    /// <summary>The third line after "trusted comment: ", signed by the global signature.</summary>
    public string TrustedComment { get; }

    /// <summary>The 64-byte Ed25519 signature of the file (or of its hash).</summary>
    public ReadOnlyMemory<byte> Signature => _signature;

    /// <summary>The 64-byte Ed25519 signature of <see cref="Signature"/> followed by the trusted comment.</summary>
    public ReadOnlyMemory<byte> GlobalSignature => _globalSignature;

    internal ReadOnlySpan<byte> KeyIdSpan => _keyId;
    internal ReadOnlySpan<byte> SignatureSpan => _signature;
    internal ReadOnlySpan<byte> TrustedCommentBytes => _trustedComment;
    internal ReadOnlySpan<byte> GlobalSignatureSpan => _globalSignature;

    /// <summary>
    /// The trusted comment minisign writes when none is given:
    /// "timestamp:&lt;unix seconds&gt;\tfile:&lt;name&gt;" and "\thashed" for prehashed signatures.
    /// Without a file name, "timestamp:&lt;unix seconds&gt;" alone (and "\thashed").
    /// </summary>
    public static string DefaultTrustedComment(DateTimeOffset time, string? fileName, bool prehashed)
    {
        var builder = new StringBuilder();
        builder.Append(CultureInfo.InvariantCulture, $"timestamp:{time.ToUnixTimeSeconds()}");
        if (!string.IsNullOrEmpty(fileName))
        {
            builder.Append("\tfile:").Append(Path.GetFileName(fileName));
        }
        if (prehashed)
        {
            builder.Append("\thashed");
        }
        return builder.ToString();
    }

    /// <summary>Reads the text of a .minisig file.</summary>
    /// <exception cref="MinisignException"><see cref="MinisignFailure.MalformedSignature"/> naming what is wrong,
    /// or <see cref="MinisignFailure.UnsupportedAlgorithm"/>.</exception>
    public static MinisignSignature Parse(string fileText)
    {
        ArgumentNullException.ThrowIfNull(fileText);
        return Parse(Encoding.UTF8.GetBytes(fileText));
    }

    /// <summary>
    /// Reads the bytes of a .minisig file. The trusted comment is verified as the bytes found
    /// here, as minisign does, even when they are not valid UTF-8.
    /// </summary>
    /// <exception cref="MinisignException"><see cref="MinisignFailure.MalformedSignature"/> naming what is wrong,
    /// or <see cref="MinisignFailure.UnsupportedAlgorithm"/>.</exception>
    public static MinisignSignature Parse(ReadOnlySpan<byte> fileBytes)
    {
        var rest = fileBytes;
        var untrustedLine = NextLine(ref rest, "the untrusted comment line", MinisignFormat.MaxUntrustedCommentBytes + MinisignFormat.UntrustedCommentPrefix.Length);
        if (!untrustedLine.StartsWith("untrusted comment: "u8))
        {
            throw Malformed("the first line must start with \"untrusted comment: \"; is this a minisign signature (.minisig) file?");
        }
        var untrusted = Encoding.UTF8.GetString(untrustedLine[MinisignFormat.UntrustedCommentPrefix.Length..]);

        var signatureLine = NextLine(ref rest, "the signature line", 1024);
        Span<byte> blob = stackalloc byte[MinisignFormat.SignatureStructBytes];
        var error = MinisignFormat.TryDecodeBase64(Encoding.ASCII.GetString(signatureLine), blob);
        if (error is not null)
        {
            throw Malformed($"the signature (second line) is not a minisign signature: {error}; " +
                $"it should be {MinisignFormat.SignatureStructBytes} bytes (algorithm, key id, signature) in 100 base64 characters");
        }
        var algorithm = blob[..MinisignFormat.AlgorithmBytes];
        bool prehashed;
        if (algorithm.SequenceEqual(MinisignFormat.PrehashedAlgorithm))
        {
            prehashed = true;
        }
        else if (algorithm.SequenceEqual(MinisignFormat.LegacyAlgorithm))
        {
            prehashed = false;
        }
        else
        {
            throw new MinisignException(MinisignFailure.UnsupportedAlgorithm,
                $"unsupported signature algorithm {MinisignFormat.DescribeAlgorithm(algorithm)}: minisign signatures are \"ED\" (prehashed) or \"Ed\" (legacy)");
        }

        var trustedLine = NextLine(ref rest, "the trusted comment line", MinisignFormat.MaxTrustedCommentBytes + MinisignFormat.TrustedCommentPrefix.Length);
        if (!trustedLine.StartsWith("trusted comment: "u8))
        {
            throw Malformed("the third line must start with \"trusted comment: \"");
        }
        var trusted = trustedLine[MinisignFormat.TrustedCommentPrefix.Length..];
        if (trusted.Contains((byte)0))
        {
            throw Malformed("the trusted comment contains a NUL byte");
        }

        var globalLine = NextLine(ref rest, "the global signature line", 1024, lastLine: true);
        Span<byte> global = stackalloc byte[MinisignFormat.SignatureBytes];
        error = MinisignFormat.TryDecodeBase64(Encoding.ASCII.GetString(globalLine), global);
        if (error is not null)
        {
            throw Malformed($"the global signature (fourth line) is not valid: {error}; it should be 64 bytes in 88 base64 characters");
        }
        // Like minisign, anything after the fourth line is ignored.
        return new MinisignSignature(prehashed, blob.Slice(MinisignFormat.AlgorithmBytes, MinisignFormat.KeyIdBytes),
            blob[(MinisignFormat.AlgorithmBytes + MinisignFormat.KeyIdBytes)..], untrusted, trusted, global);
    }

    /// <summary>Reads a .minisig file.</summary>
    /// <exception cref="MinisignException">The file is not a minisign signature.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static MinisignSignature Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        const int maxBytes = 1 << 20;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (stream.Length > maxBytes)
        {
            throw Malformed($"{path} is {stream.Length} bytes, far too large to be a minisign signature");
        }
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        try
        {
            return Parse(bytes);
        }
        catch (MinisignException e)
        {
            throw new MinisignException(e.Failure, $"{path}: {e.Message}", e);
        }
    }

    /// <summary>The text of the .minisig file, exactly as minisign writes it.</summary>
    public string ToFileText() => Encoding.UTF8.GetString(ToFileBytes());

    /// <summary>
    /// The bytes of the .minisig file, exactly as minisign writes it (the trusted comment as
    /// read, even when it is not valid UTF-8).
    /// </summary>
    public byte[] ToFileBytes()
    {
        Span<byte> blob = stackalloc byte[MinisignFormat.SignatureStructBytes];
        (Prehashed ? MinisignFormat.PrehashedAlgorithm : MinisignFormat.LegacyAlgorithm).CopyTo(blob);
        _keyId.CopyTo(blob[MinisignFormat.AlgorithmBytes..]);
        _signature.CopyTo(blob[(MinisignFormat.AlgorithmBytes + MinisignFormat.KeyIdBytes)..]);
        using var output = new MemoryStream();
        output.Write(Encoding.UTF8.GetBytes($"{MinisignFormat.UntrustedCommentPrefix}{UntrustedComment}\n{Convert.ToBase64String(blob)}\n"));
        output.Write("trusted comment: "u8);
        output.Write(_trustedComment);
        output.Write(Encoding.ASCII.GetBytes($"\n{Convert.ToBase64String(_globalSignature)}\n"));
        return output.ToArray();
    }

    public override string ToString() => ToFileText();

    /// <summary>
    /// The next line without its end. As minisign's trim() does, a line ends at its first CR or LF,
    /// so "abc\r\n" reads as "abc". A line longer than minisign's buffer is refused, as minisign refuses it.
    /// </summary>
    private static ReadOnlySpan<byte> NextLine(ref ReadOnlySpan<byte> rest, string what, int maxContentBytes, bool lastLine = false)
    {
        if (rest.IsEmpty)
        {
            throw Malformed($"{what} is missing; a minisign signature file has four lines");
        }
        var newline = rest.IndexOf((byte)'\n');
        if (newline < 0 && !lastLine)
        {
            throw Malformed($"{what} is not followed by the rest of the signature; a minisign signature file has four lines");
        }
        var line = newline < 0 ? rest : rest[..newline];
        rest = newline < 0 ? [] : rest[(newline + 1)..];
        if (line.Length > maxContentBytes)
        {
            throw Malformed($"{what} is longer than minisign accepts ({maxContentBytes} bytes)");
        }
        var cr = line.IndexOf((byte)'\r');
        return cr < 0 ? line : line[..cr];
    }

    private static MinisignException Malformed(string message) =>
        new(MinisignFailure.MalformedSignature, "malformed minisign signature: " + message);
}
