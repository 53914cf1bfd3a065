using Belay.Core.Minisign;
using Belay.TestSupport;
using static Belay.Core.Tests.Minisign.MinisignTestData;

namespace Belay.Core.Tests.Minisign;

public sealed class MinisignPublicKeyTests
{
    [Fact]
    public void TheBareBase64LineParsesWithTheKeyIdMinisignPrints()
    {
        var key = MinisignPublicKey.Parse(UnencryptedPublicKey);

        Assert.Equal(UnencryptedKeyId, key.KeyIdHex);
        Assert.Equal(8, key.KeyId.Length);
        Assert.Equal(32, key.Key.Length);
        // The key id is stored little-endian: the first byte is the lowest of the printed number.
        Assert.Equal(0x07, key.KeyId.Span[0]);
        Assert.Equal(0xD3, key.KeyId.Span[7]);
    }

    [Fact]
    public void TheWholePubFileParsesToTheSameKey()
    {
        Assert.Equal(MinisignPublicKey.Parse(UnencryptedPublicKey), MinisignPublicKey.Parse(UnencryptedPublicKeyFile));
    }

    [Theory]
    [InlineData("  RWQHTCSJQyK10xtxk0/2lH095LF3/ukC1wtx7EmhSsMCvcI795PolZ6N \n\n")]
    [InlineData("untrusted comment: minisign public key D3B5224389244C07\r\nRWQHTCSJQyK10xtxk0/2lH095LF3/ukC1wtx7EmhSsMCvcI795PolZ6N\r\n")]
    [InlineData("\n untrusted comment: anything\nRWQHTCSJQyK10xtxk0/2lH095LF3/ukC1wtx7EmhSsMCvcI795PolZ6N")]
    public void SurroundingWhitespaceAndCrlfLineEndsAreAccepted(string text)
    {
        Assert.Equal(UnencryptedKeyId, MinisignPublicKey.Parse(text).KeyIdHex);
    }

    [Fact]
    public void ToFileTextIsExactlyWhatMinisignWrites()
    {
        Assert.Equal(UnencryptedPublicKeyFile, MinisignPublicKey.Parse(UnencryptedPublicKey).ToFileText());
    }

    [Fact]
    public void AGeneratedKeyRoundTripsThroughItsBase64AndItsFileText()
    {
        var key = MinisignSecretKey.Generate().PublicKey;

        Assert.Equal(key, MinisignPublicKey.Parse(key.ToBase64()));
        Assert.Equal(key, MinisignPublicKey.Parse(key.ToFileText()));
        Assert.StartsWith("RW", key.ToBase64(), StringComparison.Ordinal);
        Assert.Equal(56, key.ToBase64().Length);
        Assert.Equal($"untrusted comment: minisign public key {key.KeyIdHex}\n{key.ToBase64()}\n", key.ToFileText());
    }

    [Fact]
    public void AKeyIdWithALeadingZeroIsPrintedAsMinisignPrintsIt()
    {
        // minisign formats the key id with "%" PRIX64: no zero padding. Key id bytes are little-endian,
        // so a last byte below 0x10 gives 15 digits (and one random key in sixteen does this).
        byte[] raw = [(byte)'E', (byte)'d', 0x86, 0x72, 0x18, 0x0A, 0xE0, 0x75, 0xB1, 0x0C, .. new byte[32]];
        var key = MinisignPublicKey.Parse(Convert.ToBase64String(raw));

        Assert.Equal("CB175E00A187286", key.KeyIdHex);
        Assert.StartsWith("untrusted comment: minisign public key CB175E00A187286\n", key.ToFileText(), StringComparison.Ordinal);
    }

    [Fact]
    public void KeysAreEqualByValue()
    {
        var a = MinisignPublicKey.Parse(UnencryptedPublicKey);
        var b = MinisignPublicKey.Parse(UnencryptedPublicKeyFile);
        var other = MinisignPublicKey.Parse(EncryptedPairPublicKeyFile);

        Assert.True(a == b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.True(a != other);
        Assert.False(a.Equals(null));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   \n  ", "empty")]
    [InlineData("RWQHTCSJQyK10xtxk0/2lH095LF3/ukC1wtx7EmhSsMCvcI795PolZ6", "not a multiple of 4")]
    [InlineData("RWQHTCSJQyK10xtxk0/2lH095LF3/ukC1wtx7EmhSsMCvcI795PolZ6N1234", "decodes to 45 bytes instead of 42")]
    [InlineData("RWQHTCSJQyK10xtxk0/2lH095LF3/ukC1wtx7EmhSsMCvcI795Po Z6N", "character 53 (' ') is not base64")]
    [InlineData("RWQHTCSJQyK10xtxk0-2lH095LF3/ukC1wtx7EmhSsMCvcI795PolZ6N", "character 19 ('-') is not base64")]
    [InlineData("untrusted comment: only a comment", "no key line")]
    [InlineData("RWQHTCSJQyK10xtxk0/2lH095LF3/ukC1wtx7EmhSsMCvcI795PolZ6N\nRWQHTCSJQyK10xtxk0/2lH095LF3/ukC1wtx7EmhSsMCvcI795PolZ6N", "single base64 line")]
    public void AMalformedKeyIsRefusedWithAMessageThatSaysWhatIsWrong(string text, string expected)
    {
        var e = Assert.Throws<MinisignException>(() => MinisignPublicKey.Parse(text));

        Assert.Equal(MinisignFailure.MalformedKey, e.Failure);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AKeyForAnotherAlgorithmIsUnsupported()
    {
        // "RU" is base64 for "ED": a signature's algorithm, not a key's.
        var text = "RU" + UnencryptedPublicKey[2..];

        var e = Assert.Throws<MinisignException>(() => MinisignPublicKey.Parse(text));

        Assert.Equal(MinisignFailure.UnsupportedAlgorithm, e.Failure);
        Assert.Contains("\"ED\"", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParseReportsTheErrorInsteadOfThrowing()
    {
        Assert.True(MinisignPublicKey.TryParse(UnencryptedPublicKey, out var key, out var error));
        Assert.Equal(UnencryptedKeyId, key.KeyIdHex);
        Assert.Null(error);

        Assert.False(MinisignPublicKey.TryParse("not a key", out key, out error));
        Assert.Null(key);
        Assert.Contains("not a minisign public key", error, StringComparison.Ordinal);

        Assert.False(MinisignPublicKey.TryParse(null, out _, out error));
        Assert.NotNull(error);
    }

    [Fact]
    public void LoadAndParseOrLoadReadAPubFile()
    {
        using var dir = new TempDir();
        var path = dir.Combine("key.pub");
        File.WriteAllText(path, UnencryptedPublicKeyFile);

        Assert.Equal(UnencryptedKeyId, MinisignPublicKey.Load(path).KeyIdHex);
        Assert.Equal(UnencryptedKeyId, MinisignPublicKey.ParseOrLoad(path).KeyIdHex);
        Assert.Equal(UnencryptedKeyId, MinisignPublicKey.ParseOrLoad(UnencryptedPublicKey).KeyIdHex);
    }

    [Fact]
    public void LoadingAFileThatIsNotAKeyNamesTheFile()
    {
        using var dir = new TempDir();
        var path = dir.Combine("key.pub");
        File.WriteAllText(path, "untrusted comment: x\nhello\n");

        var e = Assert.Throws<MinisignException>(() => MinisignPublicKey.Load(path));

        Assert.Equal(MinisignFailure.MalformedKey, e.Failure);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseOrLoadOfNeitherAKeyNorAFileSaysSo()
    {
        var e = Assert.Throws<MinisignException>(() => MinisignPublicKey.ParseOrLoad("not-a-key"));

        Assert.Equal(MinisignFailure.MalformedKey, e.Failure);
        Assert.Contains("neither a minisign public key nor an existing .pub file", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseOrLoadOfAPathThatDoesNotExistSaysItIsMissingNotThatItIsNoBase64()
    {
        var e = Assert.Throws<MinisignException>(() => MinisignPublicKey.ParseOrLoad("/nonexistent/key.pub"));

        Assert.Equal("no such file: /nonexistent/key.pub (give a .pub file, or the key's base64 line as minisign -G prints it)", e.Message);
        Assert.DoesNotContain("base64;", e.Message, StringComparison.Ordinal);
    }
}
