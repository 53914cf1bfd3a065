using System.Buffers.Binary;
using Belay.Core.Minisign;
using Belay.TestSupport;
using static Belay.Core.Tests.Minisign.MinisignTestData;

namespace Belay.Core.Tests.Minisign;

public sealed class MinisignSecretKeyTests
{
    private static byte[] Blob(string fileText) => Convert.FromBase64String(fileText.Split('\n')[1]);

    private static string FileText(byte[] blob) => $"untrusted comment: edited\n{Convert.ToBase64String(blob)}\n";

    [Fact]
    public void AnUnencryptedKeyFromMinisignParsesWithItsPublicKey()
    {
        var key = MinisignSecretKey.Parse(UnencryptedSecretKeyFile);

        Assert.Equal(MinisignPublicKey.Parse(UnencryptedPublicKeyFile), key.PublicKey);
        Assert.False(MinisignSecretKey.IsEncrypted(UnencryptedSecretKeyFile));
    }

    [Fact]
    public void AnUnencryptedKeyIsWrittenAsMinisignDashWWritesItPlusItsChecksum()
    {
        var key = MinisignSecretKey.Parse(UnencryptedSecretKeyFile);

        var written = key.ToFileText();

        // Same bytes as minisign -G -W (kdf, salt and limits zero, then key id and secret key),
        // except the checksum, which minisign -W leaves zero.
        var minisigns = Blob(UnencryptedSecretKeyFile);
        var belays = Blob(written);
        Assert.Equal(minisigns[..126], belays[..126]);
        Assert.All(minisigns[126..], b => Assert.Equal(0, b));
        Assert.Contains(belays[126..], b => b != 0);
        Assert.StartsWith("untrusted comment: ", written, StringComparison.Ordinal);
        Assert.EndsWith("\n", written, StringComparison.Ordinal);
        Assert.Equal(key.PublicKey, MinisignSecretKey.Parse(written).PublicKey);
    }

    [Fact]
    public void ADamagedUnencryptedKeyWithoutAChecksumIsCaughtByItsSeed()
    {
        var blob = Blob(UnencryptedSecretKeyFile);
        blob[70] ^= 0x01;

        var e = Assert.Throws<MinisignException>(() => MinisignSecretKey.Parse(FileText(blob)));

        Assert.Equal(MinisignFailure.MalformedKey, e.Failure);
        Assert.Contains("damaged", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AGeneratedKeyRoundTripsUnencrypted()
    {
        var key = MinisignSecretKey.Generate();

        var again = MinisignSecretKey.Parse(key.ToFileText());

        Assert.Equal(key.PublicKey, again.PublicKey);
        var signature = again.Sign(Message, "t");
        MinisignVerifier.Verify(key.PublicKey, Message, signature);
    }

    [Fact]
    public void TwoGeneratedKeysDiffer()
    {
        var a = MinisignSecretKey.Generate().PublicKey;
        var b = MinisignSecretKey.Generate().PublicKey;

        Assert.NotEqual(a.KeyIdHex, b.KeyIdHex);
        Assert.False(a.Key.Span.SequenceEqual(b.Key.Span));
    }

    [Fact]
    public void AnEncryptedKeyRoundTripsWithItsPassword()
    {
        var key = MinisignSecretKey.Generate();

        var text = key.ToFileText("correct horse", FastOpsLimit, FastMemLimit);
        var again = MinisignSecretKey.Parse(text, "correct horse");

        Assert.True(MinisignSecretKey.IsEncrypted(text));
        Assert.Equal(key.PublicKey, again.PublicKey);
        MinisignVerifier.Verify(key.PublicKey, Message, again.Sign(Message));
    }

    [Fact]
    public void AnEncryptedKeyStoresScryptItsLimitsAndARandomSalt()
    {
        var key = MinisignSecretKey.Generate();

        var first = Blob(key.ToFileText("pw", FastOpsLimit, FastMemLimit));
        var second = Blob(key.ToFileText("pw", FastOpsLimit, FastMemLimit));

        Assert.Equal(158, first.Length);
        Assert.Equal("EdScB2"u8.ToArray(), first[..6]);
        Assert.Equal(FastOpsLimit, BinaryPrimitives.ReadUInt64LittleEndian(first.AsSpan(38, 8)));
        Assert.Equal(FastMemLimit, BinaryPrimitives.ReadUInt64LittleEndian(first.AsSpan(46, 8)));
        Assert.False(first.AsSpan(6, 32).SequenceEqual(second.AsSpan(6, 32)));
        // Key id, secret key and checksum are encrypted: the key id does not show.
        Assert.False(first.AsSpan(54, 8).SequenceEqual(key.PublicKey.KeyId.Span));
    }

    [Fact]
    public void AnEncryptedKeyWithTheWrongPasswordFailsAsWrongPassword()
    {
        var text = MinisignSecretKey.Generate().ToFileText("right", FastOpsLimit, FastMemLimit);

        var e = Assert.Throws<MinisignException>(() => MinisignSecretKey.Parse(text, "wrong"));

        Assert.Equal(MinisignFailure.WrongPassword, e.Failure);
        Assert.Contains("wrong password", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEncryptedKeyWithoutAPasswordFailsAsPasswordRequired()
    {
        var text = MinisignSecretKey.Generate().ToFileText("right", FastOpsLimit, FastMemLimit);

        var e = Assert.Throws<MinisignException>(() => MinisignSecretKey.Parse(text));

        Assert.Equal(MinisignFailure.PasswordRequired, e.Failure);
    }

    [Fact]
    public void AnEmptyPasswordIsAPasswordLikeAnyOther()
    {
        var key = MinisignSecretKey.Generate();
        var text = key.ToFileText("", FastOpsLimit, FastMemLimit);

        Assert.True(MinisignSecretKey.IsEncrypted(text));
        Assert.Equal(key.PublicKey, MinisignSecretKey.Parse(text, "").PublicKey);
        Assert.Equal(MinisignFailure.WrongPassword, Assert.Throws<MinisignException>(() => MinisignSecretKey.Parse(text, " ")).Failure);
    }

    [Fact]
    public void APasswordGivenForAnUnencryptedKeyIsIgnored()
    {
        Assert.Equal(UnencryptedKeyId, MinisignSecretKey.Parse(UnencryptedSecretKeyFile, "unused").PublicKey.KeyIdHex);
    }

    [Fact]
    public void ADamagedUnencryptedKeyWithAChecksumFailsIt()
    {
        var blob = Blob(MinisignSecretKey.Generate().ToFileText());
        blob[70] ^= 0x01;

        var e = Assert.Throws<MinisignException>(() => MinisignSecretKey.Parse(FileText(blob)));

        Assert.Equal(MinisignFailure.MalformedKey, e.Failure);
        Assert.Contains("checksum", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, "signature algorithm")]
    [InlineData(2, "key derivation")]
    [InlineData(4, "checksum algorithm")]
    public void AKeyWithAnUnknownAlgorithmIsUnsupported(int offset, string expected)
    {
        var blob = Blob(UnencryptedSecretKeyFile);
        blob[offset] = (byte)'X';

        var e = Assert.Throws<MinisignException>(() => MinisignSecretKey.Parse(FileText(blob)));

        Assert.Equal(MinisignFailure.UnsupportedAlgorithm, e.Failure);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("untrusted comment: minisign encrypted secret key\n", "no key line")]
    [InlineData("untrusted comment: x\nRWQHTCSJQyK10xtxk0/2lH095LF3/ukC1wtx7EmhSsMCvcI795PolZ6N\n", "decodes to 42 bytes instead of 158")]
    [InlineData("untrusted comment: x\nnot base64!\n", "not a multiple of 4")]
    public void AMalformedSecretKeyIsRefusedWithAMessageThatSaysWhatIsWrong(string text, string expected)
    {
        var e = Assert.Throws<MinisignException>(() => MinisignSecretKey.Parse(text));

        Assert.Equal(MinisignFailure.MalformedKey, e.Failure);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AKeyThatAsksScryptForTooMuchMemoryIsRefusedBeforeDerivingAnything()
    {
        var blob = Blob(MinisignSecretKey.Generate().ToFileText("pw", FastOpsLimit, FastMemLimit));
        BinaryPrimitives.WriteUInt64LittleEndian(blob.AsSpan(38, 8), 1UL << 40);
        BinaryPrimitives.WriteUInt64LittleEndian(blob.AsSpan(46, 8), 1UL << 40);

        var e = Assert.Throws<MinisignException>(() => MinisignSecretKey.Parse(FileText(blob), "pw"));

        Assert.Equal(MinisignFailure.MalformedKey, e.Failure);
        Assert.Contains("GiB of memory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WritingWithLimitsScryptCannotUseThrows()
    {
        var key = MinisignSecretKey.Generate();

        Assert.Throws<ArgumentOutOfRangeException>(() => key.ToFileText("pw", 1UL << 40, 1UL << 40));
    }

    [Fact]
    public void LoadReadsAKeyFileAndNamesItInErrors()
    {
        using var dir = new TempDir();
        var path = dir.Combine("test.key");
        File.WriteAllText(path, MinisignSecretKey.Generate().ToFileText("pw", FastOpsLimit, FastMemLimit));

        Assert.NotNull(MinisignSecretKey.Load(path, "pw"));
        var e = Assert.Throws<MinisignException>(() => MinisignSecretKey.Load(path));
        Assert.Equal(MinisignFailure.PasswordRequired, e.Failure);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }
}
