using System.Text;
using Belay.Core.Minisign;

namespace Belay.Core.Tests.Minisign;

/// <summary>
/// Files that minisign 0.11 wrote (minisign -G, -G -W, -S, -S -l over "hello\n"), kept as
/// known answers so that the format is pinned even where the minisign tool is not installed.
/// </summary>
public static class MinisignTestData
{
    public static readonly byte[] Message = "hello\n"u8.ToArray();

    /// <summary>An unencrypted key pair from <c>minisign -G -W</c>.</summary>
    public const string UnencryptedPublicKeyFile =
        "untrusted comment: minisign public key D3B5224389244C07\n" +
        "RWQHTCSJQyK10xtxk0/2lH095LF3/ukC1wtx7EmhSsMCvcI795PolZ6N\n";

    public const string UnencryptedPublicKey = "RWQHTCSJQyK10xtxk0/2lH095LF3/ukC1wtx7EmhSsMCvcI795PolZ6N";

    public const string UnencryptedKeyId = "D3B5224389244C07";

    public const string UnencryptedSecretKeyFile =
        "untrusted comment: minisign encrypted secret key\n" +
        "RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB0wkiUMitdN01JDtdBU4OVcBCnGLuK1cPq09kuBDmnYfP2+hqpAwZhtxk0/2lH095LF3/ukC1wtx7EmhSsMCvcI795PolZ6NAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    /// <summary>The legacy ("Ed") signature of <see cref="Message"/> by the unencrypted key (<c>minisign -S -l</c>).</summary>
    public const string LegacySignatureFile =
        "untrusted comment: signature from minisign secret key\n" +
        "RWQHTCSJQyK1053AkdotuFZyZXa+L37etIZ04L5l2zjG22d1AIv9PQO2FJYJuYbN+yl22Z35thCD7As33uXtQqBHkKKMDNTqaQU=\n" +
        "trusted comment: timestamp:1795732683\tfile:f\n" +
        "RyjFbp179sQH+U8SGRnoTJ6uqWiR+is8ktLe/Pvzpi7h0+5DQJMiBXK5/vg4jWK0A/7VprDupj1j9iqicFODAA==\n";

    /// <summary>The public half of a password-protected key from <c>minisign -G</c>.</summary>
    public const string EncryptedPairPublicKeyFile =
        "untrusted comment: minisign public key 42191FA100B3DA2B\n" +
        "RWQr2rMAoR8ZQlIBGNrL1LJMH4k+xHK8J+DpaBOKy+Z5Uo8tINNUe1Ib\n";

    /// <summary>The prehashed ("ED") signature of <see cref="Message"/> by that key (<c>minisign -S</c>).</summary>
    public const string PrehashedSignatureFile =
        "untrusted comment: signature from minisign secret key\n" +
        "RUQr2rMAoR8ZQuciquX+WKGLOp+ZngfcXaTdej59CwjX4qEWGYio3po8r8DVFZhSXdPhvLX185hUKgm1fMQjuxVXQ8WFfAsZows=\n" +
        "trusted comment: timestamp:1795732683\tfile:f\thashed\n" +
        "490U/TezfFST3gvLgV3rIo9XvwlcYzZPtnHr0bHgerSqYBeUM+a5yhTv/H8eimXoM0UUHxjyjpBUTmUKSzVdBA==\n";

    /// <summary>Small scrypt limits for fast unit tests: libsodium picks N=2^10, r=8, p=1 (1 MiB).</summary>
    public const ulong FastOpsLimit = 32768;
    public const ulong FastMemLimit = 16 * 1024 * 1024;

    /// <summary>Replaces one line (0-based) of a signature file's text.</summary>
    public static string ReplaceLine(string fileText, int index, Func<string, string> change)
    {
        var lines = fileText.Split('\n');
        lines[index] = change(lines[index]);
        return string.Join('\n', lines);
    }

    /// <summary>
    /// Swaps the base64 character at <paramref name="index"/> for another base64 character, so
    /// that the line still decodes but to different bytes (index away from the padding end).
    /// </summary>
    public static string FlipBase64(string line, int index)
    {
        var chars = line.ToCharArray();
        chars[index] = chars[index] == 'A' ? 'B' : 'A';
        return new string(chars);
    }

    /// <summary>
    /// The four ways to tamper with a signed file: the file itself, the signature line, the
    /// trusted comment, the global signature; plus the key id inside the signature line.
    /// </summary>
    public enum Tamper
    {
        FileByte,
        SignatureLine,
        TrustedComment,
        GlobalSignature,
        KeyIdInSignatureLine,
    }

    /// <summary>Applies <paramref name="tamper"/> to a message and its signature file text.</summary>
    public static (byte[] Message, string Signature) Apply(Tamper tamper, byte[] message, string signatureFile)
    {
        var data = (byte[])message.Clone();
        var signature = signatureFile;
        switch (tamper)
        {
            case Tamper.FileByte:
                data[data.Length / 2] ^= 0x01;
                break;
            case Tamper.SignatureLine:
                // Characters 16.. of the 100 encode bytes 12.. of alg(2) + key id(8) + signature(64): the signature.
                signature = ReplaceLine(signatureFile, 1, line => FlipBase64(line, 40));
                break;
            case Tamper.TrustedComment:
                signature = ReplaceLine(signatureFile, 2, line => line + "x");
                break;
            case Tamper.GlobalSignature:
                signature = ReplaceLine(signatureFile, 3, line => FlipBase64(line, 40));
                break;
            case Tamper.KeyIdInSignatureLine:
                // Characters 4..12 encode bytes 3..9: the key id.
                signature = ReplaceLine(signatureFile, 1, line => FlipBase64(line, 6));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(tamper));
        }
        return (data, signature);
    }

    /// <summary>The failure Belay must report for each kind of tampering.</summary>
    public static MinisignFailure ExpectedFailure(Tamper tamper) => tamper switch
    {
        Tamper.FileByte => MinisignFailure.SignatureInvalid,
        Tamper.SignatureLine => MinisignFailure.SignatureInvalid,
        Tamper.TrustedComment => MinisignFailure.TrustedCommentInvalid,
        Tamper.GlobalSignature => MinisignFailure.TrustedCommentInvalid,
        Tamper.KeyIdInSignatureLine => MinisignFailure.KeyIdMismatch,
        _ => throw new ArgumentOutOfRangeException(nameof(tamper)),
    };

    /// <summary>Some bytes that are not all alike, for signing.</summary>
    public static byte[] SampleData(int length, int seed = 1)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    public static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
