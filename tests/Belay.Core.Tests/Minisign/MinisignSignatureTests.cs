using System.Text;
using Belay.Core.Minisign;
using Belay.TestSupport;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Math.EC.Rfc8032;
using static Belay.Core.Tests.Minisign.MinisignTestData;

namespace Belay.Core.Tests.Minisign;

public sealed class MinisignSignatureTests
{
    [Fact]
    public void APrehashedSignatureFromMinisignParsesAndVerifies()
    {
        var signature = MinisignSignature.Parse(PrehashedSignatureFile);

        Assert.True(signature.Prehashed);
        Assert.Equal("42191FA100B3DA2B", signature.KeyIdHex);
        Assert.Equal("signature from minisign secret key", signature.UntrustedComment);
        Assert.Equal("timestamp:1795732683\tfile:f\thashed", signature.TrustedComment);
        Assert.Equal(64, signature.Signature.Length);
        Assert.Equal(64, signature.GlobalSignature.Length);
        MinisignVerifier.Verify(MinisignPublicKey.Parse(EncryptedPairPublicKeyFile), Message, signature);
    }

    [Fact]
    public void ALegacySignatureFromMinisignParsesAndVerifies()
    {
        var signature = MinisignSignature.Parse(LegacySignatureFile);

        Assert.False(signature.Prehashed);
        Assert.Equal(UnencryptedKeyId, signature.KeyIdHex);
        Assert.Equal("timestamp:1795732683\tfile:f", signature.TrustedComment);
        MinisignVerifier.Verify(MinisignPublicKey.Parse(UnencryptedPublicKey), Message, signature);
    }

    [Theory]
    [InlineData(PrehashedSignatureFile)]
    [InlineData(LegacySignatureFile)]
    public void ToFileTextGivesBackTheFileByteForByte(string file)
    {
        var signature = MinisignSignature.Parse(file);

        Assert.Equal(file, signature.ToFileText());
        Assert.Equal(Encoding.UTF8.GetBytes(file), signature.ToFileBytes());
    }

    [Fact]
    public void CrlfLineEndsAndAMissingFinalNewlineAreReadAsMinisignReadsThem()
    {
        var crlf = PrehashedSignatureFile.Replace("\n", "\r\n", StringComparison.Ordinal).TrimEnd();

        var signature = MinisignSignature.Parse(crlf);

        Assert.Equal("timestamp:1795732683\tfile:f\thashed", signature.TrustedComment);
        MinisignVerifier.Verify(MinisignPublicKey.Parse(EncryptedPairPublicKeyFile), Message, signature);
    }

    [Fact]
    public void LinesAfterTheFourthAreIgnoredAsMinisignIgnoresThem()
    {
        var signature = MinisignSignature.Parse(PrehashedSignatureFile + "more text\n");

        MinisignVerifier.Verify(MinisignPublicKey.Parse(EncryptedPairPublicKeyFile), Message, signature);
    }

    [Fact]
    public void TheTrustedCommentIsVerifiedAsItsBytesEvenWhenNotUtf8()
    {
        // minisign signs and checks the trusted comment as raw bytes; build such a file by hand
        // with a Latin-1 comment (not valid UTF-8).
        var seed = SampleData(32);
        var publicKey = new byte[32];
        Ed25519.GeneratePublicKey(seed, publicKey);
        byte[] keyId = [1, 2, 3, 4, 5, 6, 7, 8];
        var hash = new byte[64];
        var digest = new Blake2bDigest(512);
        digest.BlockUpdate(Message);
        digest.DoFinal(hash);
        var signature = new byte[64];
        Ed25519.Sign(seed, hash, signature);
        byte[] comment = [.. "caf"u8, 0xE9];
        var global = new byte[64];
        Ed25519.Sign(seed, [.. signature, .. comment], global);
        byte[] file =
        [
            .. "untrusted comment: x\n"u8,
            .. Encoding.ASCII.GetBytes(Convert.ToBase64String([.. "ED"u8, .. keyId, .. signature]) + "\n"),
            .. "trusted comment: "u8, .. comment, (byte)'\n',
            .. Encoding.ASCII.GetBytes(Convert.ToBase64String(global) + "\n"),
        ];
        var key = MinisignPublicKey.Parse(Convert.ToBase64String([.. "Ed"u8, .. keyId, .. publicKey]));

        var parsed = MinisignSignature.Parse(file);

        MinisignVerifier.Verify(key, Message, parsed);
        Assert.Equal(file, parsed.ToFileBytes());
        Assert.Equal("caf\uFFFD", parsed.TrustedComment);
        // Through a string the byte is lost, and the comment no longer verifies.
        var lossy = MinisignSignature.Parse(Encoding.UTF8.GetString(file));
        Assert.Equal(MinisignFailure.TrustedCommentInvalid,
            Assert.Throws<MinisignException>(() => MinisignVerifier.Verify(key, Message, lossy)).Failure);
    }

    [Theory]
    [InlineData("", "the untrusted comment line is missing")]
    [InlineData("hello\n", "must start with \"untrusted comment: \"")]
    [InlineData("untrusted comment: x\n", "the signature line is missing")]
    [InlineData("untrusted comment: x\nRUQ=\ntrusted comment: t\nAAAA\n", "decodes to 2 bytes instead of 74")]
    [InlineData("untrusted comment: x\nRUQr2rMAoR8ZQuciquX+WKGLOp+ZngfcXaTdej59CwjX4qEWGYio3po8r8DVFZhSXdPhvLX185hUKgm1fMQjuxVXQ8WFfAsZows=\n", "the trusted comment line is missing")]
    [InlineData("untrusted comment: x\nRUQr2rMAoR8ZQuciquX+WKGLOp+ZngfcXaTdej59CwjX4qEWGYio3po8r8DVFZhSXdPhvLX185hUKgm1fMQjuxVXQ8WFfAsZows=\ncomment: t\nAAAA\n", "must start with \"trusted comment: \"")]
    [InlineData("untrusted comment: x\nRUQr2rMAoR8ZQuciquX+WKGLOp+ZngfcXaTdej59CwjX4qEWGYio3po8r8DVFZhSXdPhvLX185hUKgm1fMQjuxVXQ8WFfAsZows=\ntrusted comment: t", "not followed by the rest")]
    [InlineData("untrusted comment: x\nRUQr2rMAoR8ZQuciquX+WKGLOp+ZngfcXaTdej59CwjX4qEWGYio3po8r8DVFZhSXdPhvLX185hUKgm1fMQjuxVXQ8WFfAsZows=\ntrusted comment: t\n", "the global signature line is missing")]
    [InlineData("untrusted comment: x\nRUQr2rMAoR8ZQuciquX+WKGLOp+ZngfcXaTdej59CwjX4qEWGYio3po8r8DVFZhSXdPhvLX185hUKgm1fMQjuxVXQ8WFfAsZows=\ntrusted comment: t\nAAAA\n", "global signature (fourth line) is not valid: it decodes to 3 bytes instead of 64")]
    public void AMalformedSignatureIsRefusedWithAMessageThatSaysWhatIsWrong(string file, string expected)
    {
        var e = Assert.Throws<MinisignException>(() => MinisignSignature.Parse(file));

        Assert.Equal(MinisignFailure.MalformedSignature, e.Failure);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ASignatureWithAnUnknownAlgorithmIsUnsupported()
    {
        var blob = Convert.FromBase64String(PrehashedSignatureFile.Split('\n')[1]);
        blob[1] = (byte)'X';
        var file = ReplaceLine(PrehashedSignatureFile, 1, _ => Convert.ToBase64String(blob));

        var e = Assert.Throws<MinisignException>(() => MinisignSignature.Parse(file));

        Assert.Equal(MinisignFailure.UnsupportedAlgorithm, e.Failure);
        Assert.Contains("\"EX\"", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUntrustedCommentLongerThanMinisignReadsIsRefused()
    {
        var file = ReplaceLine(PrehashedSignatureFile, 0, _ => "untrusted comment: " + new string('x', 1004));

        var e = Assert.Throws<MinisignException>(() => MinisignSignature.Parse(file));

        Assert.Equal(MinisignFailure.MalformedSignature, e.Failure);
        Assert.Contains("longer than minisign accepts", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadReadsASignatureFileAndNamesItInErrors()
    {
        using var dir = new TempDir();
        var good = dir.Combine("good.minisig");
        var bad = dir.Combine("bad.minisig");
        File.WriteAllText(good, PrehashedSignatureFile);
        File.WriteAllText(bad, "nonsense");

        Assert.Equal("42191FA100B3DA2B", MinisignSignature.Load(good).KeyIdHex);
        var e = Assert.Throws<MinisignException>(() => MinisignSignature.Load(bad));
        Assert.Contains(bad, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDefaultTrustedCommentIsMinisigns()
    {
        var time = DateTimeOffset.FromUnixTimeSeconds(1795732683);

        Assert.Equal("timestamp:1795732683\tfile:f\thashed", MinisignSignature.DefaultTrustedComment(time, "/some/dir/f", prehashed: true));
        Assert.Equal("timestamp:1795732683\tfile:f", MinisignSignature.DefaultTrustedComment(time, "f", prehashed: false));
        Assert.Equal("timestamp:1795732683\thashed", MinisignSignature.DefaultTrustedComment(time, null, prehashed: true));
    }
}
