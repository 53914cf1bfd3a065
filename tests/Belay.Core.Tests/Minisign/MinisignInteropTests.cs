using System.Text;
using Belay.Core.Minisign;
using Belay.TestSupport;
using static Belay.Core.Tests.Minisign.MinisignTestData;

namespace Belay.Core.Tests.Minisign;

/// <summary>
/// Belay against the real minisign (0.11 on Debian), both ways: what Belay writes minisign
/// reads, what minisign writes Belay reads, and what one refuses the other refuses too.
/// minisign 0.11 reads a secret key's password from stdin when stdin is not a terminal (one
/// line; -G asks twice); it has no MINISIGN_PASSWORD variable, and with -W or an unencrypted
/// key it asks for nothing.
/// </summary>
public sealed class MinisignInteropTests : IDisposable
{
    private const string Password = "pässwörd 🔑";

    private readonly string _minisign;
    private readonly TempDir _dir = new("belay-minisign-");
    private readonly byte[] _data = SampleData(300_000, seed: 7);

    public MinisignInteropTests()
    {
        _minisign = ExternalTool.Require("minisign", "minisign");
    }

    public void Dispose() => _dir.Dispose();

    private string PathOf(string name) => _dir.Combine(name);

    private ToolResult Minisign(string? stdin, params string[] args) =>
        ExternalTool.Run(_minisign, args, stdin, _dir.Path,
            // A private HOME, so that nothing reads or writes the real ~/.minisign.
            new Dictionary<string, string?> { ["HOME"] = _dir.Path, ["MINISIGN_CONFIG_DIR"] = _dir.Path });

    private static void Succeeded(ToolResult result) => Assert.True(result.ExitCode == 0, result.ToString());

    private static void Failed(ToolResult result) => Assert.True(result.ExitCode != 0, "minisign accepted it:\n" + result);

    private string WriteData(string name = "payload.bin")
    {
        var path = PathOf(name);
        File.WriteAllBytes(path, _data);
        return path;
    }

    /// <summary>An unencrypted key pair made by minisign -G -W.</summary>
    private (string PublicKeyFile, string SecretKeyFile) MinisignKeyPair(string name = "ms")
    {
        var (pub, key) = (PathOf(name + ".pub"), PathOf(name + ".key"));
        Succeeded(Minisign(null, "-G", "-W", "-p", pub, "-s", key));
        return (pub, key);
    }

    [Fact]
    public void ABelayPrehashedSignatureIsAcceptedByMinisign()
    {
        var key = MinisignSecretKey.Generate();
        File.WriteAllText(PathOf("belay.pub"), key.PublicKey.ToFileText());
        var data = WriteData();
        var signature = key.SignFile(data);
        File.WriteAllText(data + ".minisig", signature.ToFileText());
        File.WriteAllText(PathOf("elsewhere.sig"), signature.ToFileText());

        var result = Minisign(null, "-V", "-p", "belay.pub", "-m", data);
        Succeeded(result);
        Assert.Contains("Signature and comment signature verified", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("Trusted comment: " + signature.TrustedComment, result.StdOut, StringComparison.Ordinal);
        Assert.Contains("\tfile:payload.bin\thashed", signature.TrustedComment, StringComparison.Ordinal);

        // -x names the signature file; -P takes the key inline; -H insists on prehashed.
        Succeeded(Minisign(null, "-V", "-H", "-P", key.PublicKey.ToBase64(), "-x", "elsewhere.sig", "-m", data));
    }

    [Fact]
    public void ABelayLegacySignatureIsAcceptedByMinisignExceptWithDashH()
    {
        var key = MinisignSecretKey.Generate();
        File.WriteAllText(PathOf("belay.pub"), key.PublicKey.ToFileText());
        var data = WriteData();
        File.WriteAllText(PathOf("legacy.sig"), key.SignFile(data, prehash: false).ToFileText());

        Succeeded(Minisign(null, "-V", "-p", "belay.pub", "-x", "legacy.sig", "-m", data));
        var refused = Minisign(null, "-V", "-H", "-p", "belay.pub", "-x", "legacy.sig", "-m", data);
        Failed(refused);
        Assert.Contains("Legacy", refused.StdErr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AMinisignSignatureIsVerifiedByBelay(bool legacy)
    {
        var (pub, key) = MinisignKeyPair();
        var data = WriteData();
        var args = new List<string> { "-S", "-s", key, "-m", data, "-x", "payload.sig", "-t", "release 1.2.3 ✓", "-c", "made by minisign" };
        if (legacy)
        {
            args.Add("-l");
        }
        Succeeded(Minisign(null, [.. args]));

        var signature = MinisignSignature.Load(PathOf("payload.sig"));
        var publicKey = MinisignPublicKey.Load(pub);

        Assert.Equal(!legacy, signature.Prehashed);
        Assert.Equal("release 1.2.3 ✓", signature.TrustedComment);
        Assert.Equal("made by minisign", signature.UntrustedComment);
        Assert.Equal(File.ReadAllText(PathOf("payload.sig")), signature.ToFileText());
        using (var stream = File.OpenRead(data))
        {
            MinisignVerifier.Verify(publicKey, stream, signature);
        }
        MinisignVerifier.Verify(publicKey, _data, signature);
        if (legacy)
        {
            Assert.Equal(MinisignFailure.LegacyNotAllowed, Assert.Throws<MinisignException>(
                () => MinisignVerifier.Verify(publicKey, _data, signature, allowLegacy: false)).Failure);
        }
    }

    [Fact]
    public void MinisignsDefaultTrustedCommentIsBelays()
    {
        var (_, key) = MinisignKeyPair();
        var data = WriteData();
        Succeeded(Minisign(null, "-S", "-s", key, "-m", data));

        var signature = MinisignSignature.Load(data + ".minisig");

        Assert.Matches(@"^timestamp:\d+\tfile:payload\.bin\thashed$", signature.TrustedComment);
        var time = DateTimeOffset.FromUnixTimeSeconds(long.Parse(signature.TrustedComment.Split('\t')[0]["timestamp:".Length..], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(signature.TrustedComment, MinisignSignature.DefaultTrustedComment(time, data, prehashed: true));
    }

    [Theory]
    [InlineData(Tamper.FileByte, "belay")]
    [InlineData(Tamper.SignatureLine, "belay")]
    [InlineData(Tamper.TrustedComment, "belay")]
    [InlineData(Tamper.GlobalSignature, "belay")]
    [InlineData(Tamper.KeyIdInSignatureLine, "belay")]
    [InlineData(Tamper.FileByte, "minisign")]
    [InlineData(Tamper.SignatureLine, "minisign")]
    [InlineData(Tamper.TrustedComment, "minisign")]
    [InlineData(Tamper.GlobalSignature, "minisign")]
    [InlineData(Tamper.KeyIdInSignatureLine, "minisign")]
    [InlineData(Tamper.FileByte, "minisign-legacy")]
    [InlineData(Tamper.SignatureLine, "minisign-legacy")]
    [InlineData(Tamper.TrustedComment, "minisign-legacy")]
    [InlineData(Tamper.GlobalSignature, "minisign-legacy")]
    public void TamperingIsRefusedByBothBelayAndMinisign(Tamper tamper, string signer)
    {
        var data = WriteData();
        MinisignPublicKey publicKey;
        string signatureText;
        if (signer == "belay")
        {
            var key = MinisignSecretKey.Generate();
            publicKey = key.PublicKey;
            signatureText = key.SignFile(data).ToFileText();
        }
        else
        {
            var (pub, key) = MinisignKeyPair();
            Succeeded(Minisign(null, signer == "minisign-legacy" ? ["-S", "-l", "-s", key, "-m", data] : ["-S", "-s", key, "-m", data]));
            publicKey = MinisignPublicKey.Load(pub);
            signatureText = File.ReadAllText(data + ".minisig");
        }
        // Untampered, both accept.
        MinisignVerifier.Verify(publicKey, _data, MinisignSignature.Parse(signatureText));
        File.WriteAllText(PathOf("key.pub"), publicKey.ToFileText());
        File.WriteAllText(PathOf("good.sig"), signatureText);
        Succeeded(Minisign(null, "-V", "-p", "key.pub", "-x", "good.sig", "-m", data));

        var (tamperedData, tamperedSignature) = Apply(tamper, _data, signatureText);
        File.WriteAllBytes(PathOf("tampered.bin"), tamperedData);
        File.WriteAllText(PathOf("tampered.sig"), tamperedSignature);

        var minisign = Minisign(null, "-V", "-p", "key.pub", "-x", "tampered.sig", "-m", "tampered.bin");
        Failed(minisign);
        using var tamperedStream = File.OpenRead(PathOf("tampered.bin"));
        var belay = Assert.Throws<MinisignException>(() => MinisignVerifier.Verify(
            publicKey, tamperedStream, MinisignSignature.Load(PathOf("tampered.sig"))));
        Assert.Equal(ExpectedFailure(tamper), belay.Failure);
        // minisign names the same check.
        var expectedMinisignMessage = ExpectedFailure(tamper) switch
        {
            MinisignFailure.SignatureInvalid => "Signature verification failed",
            MinisignFailure.TrustedCommentInvalid => "Comment signature verification failed",
            _ => "Signature key id",
        };
        Assert.Contains(expectedMinisignMessage, minisign.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnencryptedBelaySecretKeyIsUsableByMinisign()
    {
        var key = MinisignSecretKey.Generate();
        File.WriteAllText(PathOf("belay.key"), key.ToFileText());
        File.WriteAllText(PathOf("belay.pub"), key.PublicKey.ToFileText());
        var data = WriteData();

        // With -p, minisign also checks that the signature verifies with that public key.
        Succeeded(Minisign(null, "-S", "-s", "belay.key", "-p", "belay.pub", "-m", data));

        MinisignVerifier.Verify(key.PublicKey, _data, MinisignSignature.Load(data + ".minisig"));
        Succeeded(Minisign(null, "-V", "-p", "belay.pub", "-m", data));
    }

    [Fact]
    public void MinisignRecreatesFromABelaySecretKeyThePublicKeyFileBelayWrites()
    {
        var key = MinisignSecretKey.Generate();
        File.WriteAllText(PathOf("belay.key"), key.ToFileText());

        Succeeded(Minisign(null, "-R", "-s", "belay.key", "-p", "recreated.pub"));

        Assert.Equal(key.PublicKey.ToFileText(), File.ReadAllText(PathOf("recreated.pub")));
    }

    [Fact]
    public void BelayReadsAMinisignSecretKeyAndWritesItsPublicKeyFileByteForByte()
    {
        var (pub, key) = MinisignKeyPair();

        var secret = MinisignSecretKey.Load(key);

        Assert.Equal(File.ReadAllText(pub), secret.PublicKey.ToFileText());
        Assert.False(MinisignSecretKey.IsEncrypted(File.ReadAllText(key)));
    }

    [Theory]
    // Small limits (scrypt N=2^10), then libsodium's INTERACTIVE ones (N=2^14, 16 MiB).
    [InlineData(32768UL, 16777216UL)]
    [InlineData(524288UL, 16777216UL)]
    // Many operations for little memory: libsodium puts the rest into p (N=2^10, p=128).
    [InlineData(1UL << 22, 1UL << 20)]
    public void AnEncryptedBelaySecretKeyIsUsableByMinisignWithItsPasswordOnStdin(ulong opsLimit, ulong memLimit)
    {
        var key = MinisignSecretKey.Generate();
        File.WriteAllText(PathOf("belay.key"), key.ToFileText(Password, opsLimit, memLimit));
        File.WriteAllText(PathOf("belay.pub"), key.PublicKey.ToFileText());
        var data = WriteData();

        Succeeded(Minisign(Password + "\n", "-S", "-s", "belay.key", "-p", "belay.pub", "-m", data));
        MinisignVerifier.Verify(key.PublicKey, _data, MinisignSignature.Load(data + ".minisig"));

        var wrong = Minisign("not the password\n", "-S", "-s", "belay.key", "-m", data, "-x", "wrong.sig");
        Failed(wrong);
        Assert.Contains("Wrong password", wrong.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEncryptedBelaySecretKeyWithMinisignsDefaultLimitsIsUsableByMinisign()
    {
        var key = MinisignSecretKey.Generate();
        // The defaults: scrypt with N=2^20, r=8 (1 GiB), as minisign -G.
        File.WriteAllText(PathOf("belay.key"), key.ToFileText(Password));
        File.WriteAllText(PathOf("belay.pub"), key.PublicKey.ToFileText());
        var data = WriteData();

        Succeeded(Minisign(Password + "\n", "-S", "-s", "belay.key", "-p", "belay.pub", "-m", data));

        MinisignVerifier.Verify(key.PublicKey, _data, MinisignSignature.Load(data + ".minisig"));
    }

    [Fact]
    public void APasswordProtectedMinisignKeyIsLoadedByBelay()
    {
        var (pub, key) = (PathOf("ms.pub"), PathOf("ms.key"));
        // minisign -G asks for the password twice.
        Succeeded(Minisign($"{Password}\n{Password}\n", "-G", "-p", pub, "-s", key));
        var text = File.ReadAllText(key);
        Assert.True(MinisignSecretKey.IsEncrypted(text));
        Assert.Equal(MinisignFailure.PasswordRequired, Assert.Throws<MinisignException>(() => MinisignSecretKey.Parse(text)).Failure);

        var secret = MinisignSecretKey.Load(key, Password);

        Assert.Equal(MinisignPublicKey.Load(pub), secret.PublicKey);
        var data = WriteData();
        File.WriteAllText(data + ".minisig", secret.SignFile(data).ToFileText());
        Succeeded(Minisign(null, "-V", "-p", pub, "-m", data));
    }

    [Fact]
    public void TheKnownAnswerFilesStillVerifyWithMinisign()
    {
        File.WriteAllBytes(PathOf("f"), Message);
        File.WriteAllText(PathOf("prehashed.sig"), PrehashedSignatureFile);
        File.WriteAllText(PathOf("legacy.sig"), LegacySignatureFile);
        File.WriteAllText(PathOf("e.pub"), EncryptedPairPublicKeyFile);
        File.WriteAllText(PathOf("u.pub"), UnencryptedPublicKeyFile);

        Succeeded(Minisign(null, "-V", "-p", "e.pub", "-x", "prehashed.sig", "-m", "f"));
        Succeeded(Minisign(null, "-V", "-p", "u.pub", "-x", "legacy.sig", "-m", "f"));
        Assert.Equal(Encoding.UTF8.GetBytes(PrehashedSignatureFile), MinisignSignature.Load(PathOf("prehashed.sig")).ToFileBytes());
    }
}
