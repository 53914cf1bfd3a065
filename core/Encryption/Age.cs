using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Crypto;
using BcChaCha20Poly1305 = Org.BouncyCastle.Crypto.Modes.ChaCha20Poly1305;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math.EC.Rfc7748;

namespace Belay.Core.Encryption;

/// <summary>
/// The age file format, v1 (age-encryption.org/v1, C2SP), with X25519 recipients only: what
/// secrets in a group document are (docs/deployments.md, "Secrets"). Interoperable both ways
/// with the stock age CLI. Built from the BCL (HKDF-SHA256, HMAC-SHA256, the random source)
/// and BouncyCastle (X25519, ChaCha20-Poly1305), which runs the same on every OS, where the
/// BCL's ChaCha20Poly1305 depends on the platform's crypto library.
/// <code>
/// age-encryption.org/v1
/// -> X25519 &lt;ephemeral share, base64&gt;                 one stanza per recipient: the 16-byte file key,
/// &lt;file key wrapped with ChaCha20-Poly1305, base64&gt;      under HKDF(X25519(e, R), share‖R, "age-encryption.org/v1/X25519")
/// --- &lt;HMAC-SHA256 of the header, key HKDF(file key, "", "header")&gt;
/// &lt;16-byte nonce&gt;&lt;payload: 64 KiB chunks, ChaCha20-Poly1305 under HKDF(file key, nonce, "payload"),
///                nonce = 11-byte big-endian counter ‖ 0x01 on the last chunk&gt;
/// </code>
/// Not supported, refused with a clear error: scrypt (passphrase) recipients, SSH and plugin
/// recipients. Failures never include plaintext or key material.
/// </summary>
public static class Age
{
    private const string Intro = "age-encryption.org/v1";
    private const string X25519Label = "age-encryption.org/v1/X25519";
    private const int FileKeySize = 16;
    private const int ChunkSize = 64 * 1024;
    private const int TagSize = 16;
    private const int NonceSize = 16;
    private const int StanzaColumns = 64;

    /// <summary>Encrypts <paramref name="plaintext"/> to every recipient; the binary age file.</summary>
    public static byte[] Encrypt(ReadOnlySpan<byte> plaintext, IReadOnlyCollection<AgeRecipient> recipients)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        if (recipients.Count == 0)
        {
            throw new AgeException(AgeFailure.BadKey, "a secret needs at least one recipient (age1…)");
        }
        var fileKey = RandomNumberGenerator.GetBytes(FileKeySize);
        try
        {
            var header = new StringBuilder(Intro).Append('\n');
            foreach (var recipient in recipients)
            {
                var ephemeral = RandomNumberGenerator.GetBytes(X25519.ScalarSize);
                var share = new byte[X25519.PointSize];
                X25519.ScalarMultBase(ephemeral, 0, share, 0);
                var shared = new byte[X25519.PointSize];
                if (!X25519.CalculateAgreement(ephemeral, 0, recipient.PublicKey.ToArray(), 0, shared, 0))
                {
                    throw new AgeException(AgeFailure.BadKey, $"recipient {recipient} is a low-order point; refusing to encrypt to it");
                }
                var wrapKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, shared, 32, [.. share, .. recipient.PublicKey], Encoding.ASCII.GetBytes(X25519Label));
                var body = Seal(wrapKey, new byte[12], fileKey);
                CryptographicOperations.ZeroMemory(ephemeral);
                CryptographicOperations.ZeroMemory(shared);
                CryptographicOperations.ZeroMemory(wrapKey);
                header.Append("-> X25519 ").Append(RawBase64(share)).Append('\n');
                AppendBody(header, body);
            }
            header.Append("---");
            var headerBytes = Encoding.ASCII.GetBytes(header.ToString());
            var mac = HMACSHA256.HashData(HeaderKey(fileKey), headerBytes);
            var nonce = RandomNumberGenerator.GetBytes(NonceSize);
            var payloadKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, fileKey, 32, nonce, "payload"u8.ToArray());
            using var output = new MemoryStream(headerBytes.Length + 64 + NonceSize + plaintext.Length + (plaintext.Length / ChunkSize + 1) * TagSize);
            output.Write(headerBytes);
            output.Write(Encoding.ASCII.GetBytes(" " + RawBase64(mac) + "\n"));
            output.Write(nonce);
            long counter = 0;
            var offset = 0;
            do
            {
                var length = Math.Min(ChunkSize, plaintext.Length - offset);
                var last = offset + length == plaintext.Length;
                output.Write(Seal(payloadKey, ChunkNonce(counter++, last), plaintext.Slice(offset, length)));
                offset += length;
            }
            while (offset < plaintext.Length);
            CryptographicOperations.ZeroMemory(payloadKey);
            return output.ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(fileKey);
        }
    }

    /// <summary>Encrypts and armors: the text <c>age -a</c> writes and <c>age -d</c> reads.</summary>
    public static string EncryptArmored(ReadOnlySpan<byte> plaintext, IReadOnlyCollection<AgeRecipient> recipients) =>
        AgeArmor.Encode(Encrypt(plaintext, recipients));

    /// <summary>Decrypts an age file, binary or armored, with the first identity that opens one of its X25519 stanzas.</summary>
    /// <exception cref="AgeException">The file is malformed, uses an unsupported recipient type, is for none of the identities, or was tampered with.</exception>
    public static byte[] Decrypt(ReadOnlySpan<byte> file, IReadOnlyCollection<AgeIdentity> identities)
    {
        ArgumentNullException.ThrowIfNull(identities);
        if (AgeArmor.IsArmored(file))
        {
            return Decrypt(AgeArmor.Decode(Encoding.ASCII.GetString(file)), identities);
        }
        var header = Header.Parse(file);
        var fileKey = Unwrap(header, identities);
        try
        {
            var expected = HMACSHA256.HashData(HeaderKey(fileKey), file[..header.MacInputLength]);
            if (!CryptographicOperations.FixedTimeEquals(expected, header.Mac))
            {
                throw new AgeException(AgeFailure.HeaderMac, "the age header's MAC does not match: the file was changed after it was encrypted");
            }
            return DecryptPayload(fileKey, file[header.Length..]);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(fileKey);
        }
    }

    /// <summary>Decrypts armored text (the form a group document carries).</summary>
    public static byte[] Decrypt(string armored, IReadOnlyCollection<AgeIdentity> identities)
    {
        ArgumentNullException.ThrowIfNull(armored);
        return Decrypt(AgeArmor.Decode(armored), identities);
    }

    private static byte[] Unwrap(Header header, IReadOnlyCollection<AgeIdentity> identities)
    {
        if (header.Stanzas.Any(s => s.Type == "scrypt"))
        {
            throw new AgeException(header.Stanzas.Count > 1 ? AgeFailure.Header : AgeFailure.Unsupported,
                header.Stanzas.Count > 1
                    ? "an scrypt stanza must be the only one in an age file"
                    : "this age file is passphrase-encrypted (scrypt), which Belay does not read: encrypt the secret to the group's age1… recipient");
        }
        foreach (var stanza in header.Stanzas.Where(s => s.Type == "X25519"))
        {
            if (stanza.Args.Count != 1)
            {
                throw new AgeException(AgeFailure.Header, $"an X25519 stanza has {stanza.Args.Count} arguments, not 1");
            }
            var share = DecodeRawBase64(stanza.Args[0], "the X25519 share");
            if (share.Length != X25519.PointSize)
            {
                throw new AgeException(AgeFailure.Header, $"an X25519 share is {share.Length} bytes, not 32");
            }
            if (stanza.Body.Length != FileKeySize + TagSize)
            {
                throw new AgeException(AgeFailure.Header, $"an X25519 stanza body is {stanza.Body.Length} bytes, not 32");
            }
            foreach (var identity in identities)
            {
                var shared = new byte[X25519.PointSize];
                if (!X25519.CalculateAgreement(identity.Secret.ToArray(), 0, share, 0, shared, 0))
                {
                    throw new AgeException(AgeFailure.Header, "an X25519 share is a low-order point (all-zero shared secret)");
                }
                var wrapKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, shared, 32, [.. share, .. identity.Recipient.PublicKey], Encoding.ASCII.GetBytes(X25519Label));
                CryptographicOperations.ZeroMemory(shared);
                var fileKey = TryOpen(wrapKey, new byte[12], stanza.Body);
                CryptographicOperations.ZeroMemory(wrapKey);
                if (fileKey is not null)
                {
                    return fileKey;
                }
            }
        }
        var types = header.Stanzas.Select(s => s.Type).Distinct(StringComparer.Ordinal).ToList();
        if (!types.Contains("X25519"))
        {
            throw new AgeException(AgeFailure.NoMatchingIdentity,
                $"this age file is only for recipients of type {string.Join(", ", types)}, which Belay does not read: encrypt the secret to the group's age1… recipient");
        }
        throw new AgeException(AgeFailure.NoMatchingIdentity,
            $"none of the {header.Stanzas.Count} recipient(s) of this age file is the identity this host holds ({string.Join(", ", identities.Select(i => i.Recipient))}): the secret was encrypted to another group's key");
    }

    private static byte[] DecryptPayload(byte[] fileKey, ReadOnlySpan<byte> payload)
    {
        if (payload.Length < NonceSize)
        {
            throw new AgeException(AgeFailure.Header, "the age payload is shorter than its 16-byte nonce");
        }
        var payloadKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, fileKey, 32, payload[..NonceSize].ToArray(), "payload"u8.ToArray());
        try
        {
            var rest = payload[NonceSize..];
            if (rest.IsEmpty)
            {
                throw new AgeException(AgeFailure.Payload, "the age payload has no final chunk: the file is truncated");
            }
            using var plaintext = new MemoryStream(rest.Length);
            long counter = 0;
            while (true)
            {
                var last = rest.Length <= ChunkSize + TagSize;
                var chunk = last ? rest : rest[..(ChunkSize + TagSize)];
                if (chunk.Length < TagSize)
                {
                    throw new AgeException(AgeFailure.Payload, "the age payload ends in a chunk shorter than its tag: the file is truncated");
                }
                var opened = TryOpen(payloadKey, ChunkNonce(counter, last), chunk)
                    ?? throw new AgeException(AgeFailure.Payload, last
                        ? "the last chunk of the age payload does not decrypt: the file was truncated or changed"
                        : $"chunk {counter} of the age payload does not decrypt: the file was changed");
                if (last && opened.Length == 0 && counter > 0)
                {
                    throw new AgeException(AgeFailure.Payload, "the age payload ends in an empty chunk after full ones");
                }
                plaintext.Write(opened);
                CryptographicOperations.ZeroMemory(opened);
                if (last)
                {
                    return plaintext.ToArray();
                }
                rest = rest[(ChunkSize + TagSize)..];
                counter++;
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(payloadKey);
        }
    }

    private static byte[] HeaderKey(byte[] fileKey) => HKDF.DeriveKey(HashAlgorithmName.SHA256, fileKey, 32, [], "header"u8.ToArray());

    private static byte[] ChunkNonce(long counter, bool last)
    {
        var nonce = new byte[12];
        for (var i = 10; i >= 3; i--)
        {
            nonce[i] = (byte)(counter >> (8 * (10 - i)));
        }
        nonce[11] = last ? (byte)1 : (byte)0;
        return nonce;
    }

    private static byte[] Seal(byte[] key, byte[] nonce, ReadOnlySpan<byte> plaintext)
    {
        var aead = new BcChaCha20Poly1305();
        aead.Init(true, new AeadParameters(new KeyParameter(key), TagSize * 8, nonce));
        var input = plaintext.ToArray();
        var output = new byte[aead.GetOutputSize(input.Length)];
        var n = aead.ProcessBytes(input, 0, input.Length, output, 0);
        aead.DoFinal(output, n);
        CryptographicOperations.ZeroMemory(input);
        return output;
    }

    private static byte[]? TryOpen(byte[] key, byte[] nonce, ReadOnlySpan<byte> ciphertext)
    {
        var aead = new BcChaCha20Poly1305();
        aead.Init(false, new AeadParameters(new KeyParameter(key), TagSize * 8, nonce));
        var input = ciphertext.ToArray();
        var output = new byte[aead.GetOutputSize(input.Length)];
        try
        {
            var n = aead.ProcessBytes(input, 0, input.Length, output, 0);
            n += aead.DoFinal(output, n);
            return n == output.Length ? output : output[..n];
        }
        catch (InvalidCipherTextException)
        {
            CryptographicOperations.ZeroMemory(output);
            return null;
        }
    }

    private static void AppendBody(StringBuilder header, byte[] body)
    {
        var text = RawBase64(body);
        for (var i = 0; i < text.Length; i += StanzaColumns)
        {
            header.Append(text, i, Math.Min(StanzaColumns, text.Length - i)).Append('\n');
        }
        if (text.Length % StanzaColumns == 0)
        {
            header.Append('\n'); // a body whose last line is full ends with an empty line
        }
    }

    private static string RawBase64(ReadOnlySpan<byte> data) => Convert.ToBase64String(data).TrimEnd('=');

    /// <summary>Standard base64 without padding, canonical (no stray bits), as age writes it.</summary>
    internal static byte[] DecodeRawBase64(string text, string what)
    {
        if (text.Contains('=', StringComparison.Ordinal) || text.Length % 4 == 1 || text.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '+' or '/')))
        {
            throw new AgeException(AgeFailure.Header, $"{what} is not unpadded base64");
        }
        byte[] data;
        try
        {
            data = Convert.FromBase64String(text + new string('=', (4 - text.Length % 4) % 4));
        }
        catch (FormatException e)
        {
            throw new AgeException(AgeFailure.Header, $"{what} is not base64", e);
        }
        if (RawBase64(data) != text)
        {
            throw new AgeException(AgeFailure.Header, $"{what} is not canonical base64");
        }
        return data;
    }

    /// <summary>The parsed header: stanzas, the MAC, and where the MAC's input and the header end.</summary>
    private sealed record Header(IReadOnlyList<Stanza> Stanzas, byte[] Mac, int MacInputLength, int Length)
    {
        public static Header Parse(ReadOnlySpan<byte> file)
        {
            var position = 0;
            var intro = ReadLine(file, ref position) ?? throw Malformed("it does not start with the age-encryption.org/v1 line");
            if (intro != Intro)
            {
                throw new AgeException(AgeFailure.Header,
                    intro.StartsWith("age-encryption.org/", StringComparison.Ordinal)
                        ? $"age format version '{intro}' is not supported (expected {Intro})"
                        : "not an age file: it does not start with age-encryption.org/v1");
            }
            var stanzas = new List<Stanza>();
            while (true)
            {
                var lineStart = position;
                var line = ReadLine(file, ref position) ?? throw Malformed("the header ends before its --- line");
                if (line.StartsWith("---", StringComparison.Ordinal))
                {
                    if (line.Length < 4 || line[3] != ' ')
                    {
                        throw Malformed("the --- line has no MAC");
                    }
                    var mac = DecodeRawBase64(line[4..], "the header MAC");
                    if (mac.Length != 32)
                    {
                        throw Malformed($"the header MAC is {mac.Length} bytes, not 32");
                    }
                    if (stanzas.Count == 0)
                    {
                        throw Malformed("the header has no recipient stanza");
                    }
                    return new Header(stanzas, mac, lineStart + 3, position);
                }
                if (!line.StartsWith("-> ", StringComparison.Ordinal))
                {
                    throw Malformed("a header line is neither a stanza (-> …) nor the --- line");
                }
                var args = line[3..].Split(' ');
                if (args.Any(a => a.Length == 0))
                {
                    throw Malformed("a stanza has an empty argument");
                }
                var body = new StringBuilder();
                while (true)
                {
                    var bodyLine = ReadLine(file, ref position) ?? throw Malformed("a stanza body is not terminated by a short line");
                    if (bodyLine.Length > StanzaColumns)
                    {
                        throw Malformed($"a stanza body line is {bodyLine.Length} columns, more than {StanzaColumns}");
                    }
                    body.Append(bodyLine);
                    if (bodyLine.Length < StanzaColumns)
                    {
                        break;
                    }
                }
                stanzas.Add(new Stanza(args[0], args[1..], DecodeRawBase64(body.ToString(), "a stanza body")));
                if (stanzas.Count > 1024)
                {
                    throw Malformed("the header has more than 1024 stanzas");
                }
            }
        }

        /// <summary>The next line (without its LF), printable ASCII only, or null at the end of the data.</summary>
        private static string? ReadLine(ReadOnlySpan<byte> file, ref int position)
        {
            var rest = file[position..];
            var end = rest.IndexOf((byte)'\n');
            if (end < 0)
            {
                return null;
            }
            var line = rest[..end];
            foreach (var b in line)
            {
                if (b is < 0x20 or > 0x7e)
                {
                    throw Malformed("the header holds a byte that is not printable ASCII (a CR line end?)");
                }
            }
            position += end + 1;
            return Encoding.ASCII.GetString(line);
        }

        private static AgeException Malformed(string why) => new(AgeFailure.Header, $"malformed age header: {why}");
    }

    private sealed record Stanza(string Type, IReadOnlyList<string> Args, byte[] Body);
}

/// <summary>Why an age operation failed.</summary>
public enum AgeFailure
{
    /// <summary>The ASCII armor breaks a rule (line lengths, base64, begin and end lines).</summary>
    Armor,

    /// <summary>The header does not parse (or a stanza for this host's key type is malformed, or the version is not v1).</summary>
    Header,

    /// <summary>The header parses and a file key was unwrapped, but the header's MAC does not match: the header was changed.</summary>
    HeaderMac,

    /// <summary>The payload does not decrypt to its end: changed, truncated or extended.</summary>
    Payload,

    /// <summary>The file is for other recipients: this host's identity opens none of its stanzas.</summary>
    NoMatchingIdentity,

    /// <summary>A passphrase-encrypted (scrypt) file, which Belay does not read.</summary>
    Unsupported,

    /// <summary>A recipient or identity string is not a valid X25519 key.</summary>
    BadKey,
}

/// <summary>An age file that could not be read or written; the message never holds plaintext or key material.</summary>
public sealed class AgeException : BelayException
{
    public AgeException(AgeFailure failure, string message, Exception? inner = null)
        : base(ExitCodes.Error, message, inner)
    {
        Failure = failure;
    }

    public AgeException()
        : this(AgeFailure.Header, "age error")
    {
    }

    public AgeException(string message)
        : this(AgeFailure.Header, message)
    {
    }

    public AgeException(string message, Exception inner)
        : this(AgeFailure.Header, message, inner)
    {
    }

    public AgeFailure Failure { get; }
}
