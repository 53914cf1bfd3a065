using Belay.Core.Minisign;
using Belay.TestSupport;
using static Belay.Core.Tests.Minisign.MinisignTestData;

namespace Belay.Core.Tests.Minisign;

public sealed class MinisignVerifierTests
{
    private static readonly MinisignSecretKey Key = MinisignSecretKey.Generate();
    private static readonly byte[] Data = SampleData(100_000);

    [Fact]
    public void APrehashedSignatureVerifiesFromAStreamAndFromBytes()
    {
        var signature = Key.Sign(new MemoryStream(Data), "release 1.2.3");

        Assert.True(signature.Prehashed);
        Assert.Equal(Key.PublicKey.KeyIdHex, signature.KeyIdHex);
        Assert.Equal("release 1.2.3", signature.TrustedComment);
        Assert.Equal("signature from minisign secret key", signature.UntrustedComment);
        MinisignVerifier.Verify(Key.PublicKey, new MemoryStream(Data), signature);
        MinisignVerifier.Verify(Key.PublicKey, Data, signature);
    }

    [Fact]
    public void SigningAStreamOrTheSameBytesGivesTheSameSignature()
    {
        // Ed25519 is deterministic: same key, same message, same signature.
        var fromStream = Key.Sign(new MemoryStream(Data), "t");
        var fromBytes = Key.Sign(Data, "t");

        Assert.Equal(fromStream.ToFileText(), fromBytes.ToFileText());
    }

    [Fact]
    public void ASignatureSurvivesItsFileText()
    {
        var signature = Key.Sign(Data, "t", "my comment");

        var again = MinisignSignature.Parse(signature.ToFileText());

        Assert.Equal("my comment", again.UntrustedComment);
        MinisignVerifier.Verify(Key.PublicKey, Data, again);
    }

    [Fact]
    public void WithoutATrustedCommentTheDefaultHasTheTimeAndHashed()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        var signature = Key.Sign(Data);

        var parts = signature.TrustedComment.Split('\t');
        Assert.Equal(2, parts.Length);
        Assert.StartsWith("timestamp:", parts[0], StringComparison.Ordinal);
        Assert.InRange(long.Parse(parts[0]["timestamp:".Length..], System.Globalization.CultureInfo.InvariantCulture), before, before + 60);
        Assert.Equal("hashed", parts[1]);
        Assert.DoesNotContain("hashed", Key.Sign(Data, prehash: false).TrustedComment, StringComparison.Ordinal);
    }

    [Fact]
    public void SignFileNamesTheFileInTheDefaultTrustedComment()
    {
        using var dir = new TempDir();
        var path = dir.Combine("belay-agent-1.0.0-linux-x64.tar.gz");
        File.WriteAllBytes(path, Data);

        var signature = Key.SignFile(path);

        Assert.Matches(@"^timestamp:\d+\tfile:belay-agent-1\.0\.0-linux-x64\.tar\.gz\thashed$", signature.TrustedComment);
        MinisignVerifier.Verify(Key.PublicKey, Data, signature);
    }

    [Fact]
    public void ALegacySignatureVerifiesWhenLegacyIsAllowed()
    {
        var signature = Key.Sign(new MemoryStream(Data), "old", prehash: false);

        Assert.False(signature.Prehashed);
        Assert.StartsWith("RW", signature.ToFileText().Split('\n')[1], StringComparison.Ordinal);
        MinisignVerifier.Verify(Key.PublicKey, new MemoryStream(Data), signature);
        MinisignVerifier.Verify(Key.PublicKey, Data, signature, allowLegacy: true);
    }

    [Fact]
    public void ALegacySignatureIsRefusedWhenLegacyIsNotAllowed()
    {
        var signature = Key.Sign(Data, "old", prehash: false);

        var e = Assert.Throws<MinisignException>(() => MinisignVerifier.Verify(Key.PublicKey, Data, signature, allowLegacy: false));

        Assert.Equal(MinisignFailure.LegacyNotAllowed, e.Failure);
        Assert.Contains("legacy", e.Message, StringComparison.Ordinal);
        Assert.Equal(MinisignFailure.LegacyNotAllowed,
            Assert.Throws<MinisignException>(() => MinisignVerifier.Verify([Key.PublicKey], new MemoryStream(Data), signature, allowLegacy: false)).Failure);
    }

    [Theory]
    [InlineData(Tamper.FileByte, true)]
    [InlineData(Tamper.SignatureLine, true)]
    [InlineData(Tamper.TrustedComment, true)]
    [InlineData(Tamper.GlobalSignature, true)]
    [InlineData(Tamper.KeyIdInSignatureLine, true)]
    [InlineData(Tamper.FileByte, false)]
    [InlineData(Tamper.SignatureLine, false)]
    [InlineData(Tamper.TrustedComment, false)]
    [InlineData(Tamper.GlobalSignature, false)]
    [InlineData(Tamper.KeyIdInSignatureLine, false)]
    public void TamperingIsCaughtByTheCheckItBreaks(Tamper tamper, bool prehash)
    {
        var signature = Key.Sign(Data, "timestamp:1\tfile:x", prehash: prehash).ToFileText();
        var (data, tampered) = Apply(tamper, Data, signature);

        var e = Assert.Throws<MinisignException>(() => MinisignVerifier.Verify(Key.PublicKey, data, MinisignSignature.Parse(tampered)));

        Assert.Equal(ExpectedFailure(tamper), e.Failure);
        Assert.Equal(ExpectedFailure(tamper), Assert.Throws<MinisignException>(
            () => MinisignVerifier.Verify(Key.PublicKey, new MemoryStream(data), MinisignSignature.Parse(tampered))).Failure);
    }

    [Fact]
    public void FailureMessagesNameTheCheckThatFailed()
    {
        var signature = Key.Sign(Data, "t");
        var other = MinisignSecretKey.Generate().PublicKey;
        var tamperedComment = MinisignSignature.Parse(ReplaceLine(signature.ToFileText(), 2, line => line + "!"));

        var mismatch = Assert.Throws<MinisignException>(() => MinisignVerifier.Verify(other, Data, signature));
        var invalid = Assert.Throws<MinisignException>(() => MinisignVerifier.Verify(Key.PublicKey, SampleData(10), signature));
        var comment = Assert.Throws<MinisignException>(() => MinisignVerifier.Verify(Key.PublicKey, Data, tamperedComment));

        Assert.Contains($"key id mismatch: the signature was made by key {Key.PublicKey.KeyIdHex}, but the public key is {other.KeyIdHex}", mismatch.Message, StringComparison.Ordinal);
        Assert.Contains("signature verification failed", invalid.Message, StringComparison.Ordinal);
        Assert.Contains("trusted comment verification failed", comment.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AKeyWithTheRightIdButAnotherEd25519KeyFailsTheSignature()
    {
        var impostor = MinisignSecretKey.Generate().PublicKey;
        var sameId = MinisignPublicKey.Parse(Convert.ToBase64String([.. "Ed"u8, .. Key.PublicKey.KeyId.Span, .. impostor.Key.Span]));
        var signature = Key.Sign(Data, "t");

        var e = Assert.Throws<MinisignException>(() => MinisignVerifier.Verify(sameId, Data, signature));

        Assert.Equal(MinisignFailure.SignatureInvalid, e.Failure);
    }

    [Fact]
    public void AmongTrustedKeysTheOneWhoseIdMatchesIsPickedAndReturned()
    {
        var a = MinisignSecretKey.Generate();
        var b = MinisignSecretKey.Generate();
        var c = MinisignSecretKey.Generate();
        MinisignPublicKey[] trusted = [a.PublicKey, b.PublicKey, c.PublicKey];

        Assert.Equal(b.PublicKey, MinisignVerifier.Verify(trusted, new MemoryStream(Data), b.Sign(Data, "t")));
        Assert.Equal(c.PublicKey, MinisignVerifier.Verify(trusted, Data, c.Sign(Data, "t")));
    }

    [Fact]
    public void AmongTrustedKeysNoneMatchingIsAKeyIdMismatchListingThem()
    {
        var a = MinisignSecretKey.Generate().PublicKey;
        var b = MinisignSecretKey.Generate().PublicKey;
        var signature = Key.Sign(Data, "t");

        var e = Assert.Throws<MinisignException>(() => MinisignVerifier.Verify([a, b], new MemoryStream(Data), signature));

        Assert.Equal(MinisignFailure.KeyIdMismatch, e.Failure);
        Assert.Contains(signature.KeyIdHex, e.Message, StringComparison.Ordinal);
        Assert.Contains($"{a.KeyIdHex}, {b.KeyIdHex}", e.Message, StringComparison.Ordinal);
        Assert.Equal(MinisignFailure.KeyIdMismatch,
            Assert.Throws<MinisignException>(() => MinisignVerifier.Verify([], Data, signature)).Failure);
    }

    [Fact]
    public void AmongTrustedKeysTwoWithTheSameIdAreBothTried()
    {
        var impostor = MinisignSecretKey.Generate().PublicKey;
        var sameId = MinisignPublicKey.Parse(Convert.ToBase64String([.. "Ed"u8, .. Key.PublicKey.KeyId.Span, .. impostor.Key.Span]));

        Assert.Equal(Key.PublicKey, MinisignVerifier.Verify([sameId, Key.PublicKey], new MemoryStream(Data), Key.Sign(Data, "t")));
    }

    [Fact]
    public void ANonSeekableStreamOfUnknownLengthIsSignedAndVerified()
    {
        // 16 MiB through a stream that refuses to be sought or have its length asked.
        var stream = new GeneratedStream(16L << 20);
        var signature = Key.Sign(stream, "big");

        MinisignVerifier.Verify(Key.PublicKey, new GeneratedStream(16L << 20), signature, allowLegacy: false);
    }

    [Theory]
    [InlineData("two\nlines")]
    [InlineData("carriage\rreturn")]
    [InlineData("nul\0byte")]
    public void CommentsThatAreNotOneLineAreRefused(string comment)
    {
        Assert.Throws<ArgumentException>(() => Key.Sign(Data, trustedComment: comment));
        Assert.Throws<ArgumentException>(() => Key.Sign(Data, "t", untrustedComment: comment));
    }

    [Fact]
    public void CommentsLongerThanMinisignReadsAreRefused()
    {
        Key.Sign(Data, new string('t', 8173), new string('u', 1003));

        Assert.Throws<ArgumentException>(() => Key.Sign(Data, new string('t', 8174)));
        Assert.Throws<ArgumentException>(() => Key.Sign(Data, "t", new string('u', 1004)));
    }

    [Fact]
    public void TheLongestCommentsStillParseAndVerify()
    {
        var signature = Key.Sign(Data, new string('t', 8173), new string('u', 1003));

        MinisignVerifier.Verify(Key.PublicKey, Data, MinisignSignature.Parse(signature.ToFileText()));
    }

    /// <summary>A forward-only stream of <c>length</c> pseudo-random bytes.</summary>
    private sealed class GeneratedStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            for (var i = 0; i < n; i++)
            {
                buffer[offset + i] = (byte)((_position + i) * 2654435761 >> 13);
            }
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
