using System.Text;
using Belay.Core.Encryption;
using Belay.TestSupport;

namespace Belay.Core.Tests.Encryption;

/// <summary>
/// Belay's age against the stock age CLI (Debian's age 1.1), both ways: what age -r encrypts
/// Belay decrypts, what Belay encrypts age -d decrypts; keys made by either side work on the
/// other; and what one refuses the other refuses too.
/// </summary>
public sealed class AgeInteropTests : IDisposable
{
    private readonly string _age;
    private readonly string _ageKeygen;
    private readonly TempDir _dir = new("belay-age-");

    public AgeInteropTests()
    {
        _age = ExternalTool.Require("age", "age");
        _ageKeygen = ExternalTool.Require("age-keygen", "age");
    }

    public void Dispose() => _dir.Dispose();

    private ToolResult Run(string tool, string? stdin, params string[] args) =>
        ExternalTool.Run(tool, args, stdin, _dir.Path, new Dictionary<string, string?> { ["HOME"] = _dir.Path });

    private static void Succeeded(ToolResult result) => Assert.True(result.ExitCode == 0, result.ToString());

    /// <summary>An identity made by age-keygen: its file and its public key.</summary>
    private (string File, string Recipient) AgeKeygen(string name = "key.txt")
    {
        var path = _dir.Combine(name);
        var result = Run(_ageKeygen, null, "-o", path);
        Succeeded(result);
        var recipient = File.ReadAllLines(path).Single(l => l.StartsWith("# public key: ", StringComparison.Ordinal))["# public key: ".Length..];
        return (path, recipient);
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(1, true)]
    [InlineData(100, false)]
    [InlineData(64 * 1024, false)]
    [InlineData(64 * 1024 + 1, true)]
    [InlineData(200_000, false)]
    public void WhatAgeEncryptsBelayDecrypts(int size, bool armor)
    {
        var (keyFile, recipient) = AgeKeygen();
        var plain = _dir.Combine("plain.bin");
        var data = new byte[size];
        new Random(size).NextBytes(data);
        File.WriteAllBytes(plain, data);
        var encrypted = _dir.Combine("secret.age");
        Succeeded(Run(_age, null, [.. armor ? new[] { "-a" } : [], "-r", recipient, "-o", encrypted, plain]));

        var identities = AgeIdentity.ParseFile(File.ReadAllText(keyFile), keyFile);
        Assert.Equal(recipient, identities.Single().Recipient.ToString());
        Assert.Equal(data, Age.Decrypt(File.ReadAllBytes(encrypted), identities));
        if (armor)
        {
            Assert.Equal(data, Age.Decrypt(File.ReadAllText(encrypted), identities));
        }
    }

    [Fact]
    public void WhatAgeEncryptsToSeveralRecipientsBelayDecryptsWithItsOne()
    {
        var (_, other) = AgeKeygen("other.txt");
        var (keyFile, mine) = AgeKeygen();
        var encrypted = _dir.Combine("secret.age");
        Succeeded(Run(_age, "s3cret value\n", "-a", "-r", other, "-r", mine, "-o", encrypted));
        var identities = AgeIdentity.ParseFile(File.ReadAllText(keyFile), keyFile);
        Assert.Equal("s3cret value\n", Encoding.UTF8.GetString(Age.Decrypt(File.ReadAllText(encrypted), identities)));
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(17, true)]
    [InlineData(64 * 1024, false)]
    [InlineData(3 * 64 * 1024 + 5, true)]
    public void WhatBelayEncryptsAgeDecrypts(int size, bool armor)
    {
        var (keyFile, recipient) = AgeKeygen();
        var data = new byte[size];
        new Random(size).NextBytes(data);
        var encrypted = _dir.Combine("secret.age");
        var recipients = new[] { AgeRecipient.Parse(recipient) };
        if (armor)
        {
            File.WriteAllText(encrypted, Age.EncryptArmored(data, recipients));
        }
        else
        {
            File.WriteAllBytes(encrypted, Age.Encrypt(data, recipients));
        }
        var output = _dir.Combine("out.bin");
        Succeeded(Run(_age, null, "-d", "-i", keyFile, "-o", output, encrypted));
        // age creates -o only once it has a byte to write.
        Assert.Equal(data, File.Exists(output) ? File.ReadAllBytes(output) : []);
    }

    [Fact]
    public void AnIdentityBelayMakesDecryptsWithAgeAndItsRecipientIsWhatAgeKeygenDerives()
    {
        var identity = AgeIdentity.Generate();
        var keyFile = _dir.Combine("belay-key.txt");
        File.WriteAllText(keyFile, identity.ToFileText(DateTimeOffset.UtcNow));

        var derived = Run(_ageKeygen, null, "-y", keyFile);
        Succeeded(derived);
        Assert.Equal(identity.Recipient.ToString(), derived.StdOut.Trim());

        var encrypted = _dir.Combine("secret.age");
        Succeeded(Run(_age, "to belay\n", "-r", identity.Recipient.ToString(), "-o", encrypted));
        Assert.Equal("to belay\n", Encoding.UTF8.GetString(Age.Decrypt(File.ReadAllBytes(encrypted), [identity])));
        File.WriteAllText(encrypted, Age.EncryptArmored("from belay\n"u8, [identity.Recipient]));
        var decrypted = Run(_age, null, "-d", "-i", keyFile, encrypted);
        Succeeded(decrypted);
        Assert.Equal("from belay\n", decrypted.StdOut);
    }

    [Fact]
    public void AFileForAnotherKeyIsRefusedByBothAsNoMatch()
    {
        var (keyFile, _) = AgeKeygen();
        var stranger = AgeIdentity.Generate();
        var encrypted = _dir.Combine("secret.age");
        File.WriteAllText(encrypted, Age.EncryptArmored("x"u8, [stranger.Recipient]));

        var age = Run(_age, null, "-d", "-i", keyFile, encrypted);
        Assert.NotEqual(0, age.ExitCode);
        Assert.Contains("no identity matched", age.StdErr, StringComparison.OrdinalIgnoreCase);
        var e = Assert.Throws<AgeException>(() => Age.Decrypt(File.ReadAllText(encrypted), AgeIdentity.ParseFile(File.ReadAllText(keyFile), keyFile)));
        Assert.Equal(AgeFailure.NoMatchingIdentity, e.Failure);
    }

    [Fact]
    public void AFlippedPayloadByteIsRefusedByBoth()
    {
        var (keyFile, recipient) = AgeKeygen();
        var bytes = Age.Encrypt(new byte[1000], [AgeRecipient.Parse(recipient)]);
        bytes[^20] ^= 1;
        var encrypted = _dir.Combine("secret.age");
        File.WriteAllBytes(encrypted, bytes);

        Assert.NotEqual(0, Run(_age, null, "-d", "-i", keyFile, "-o", _dir.Combine("out"), encrypted).ExitCode);
        var e = Assert.Throws<AgeException>(() => Age.Decrypt(bytes, AgeIdentity.ParseFile(File.ReadAllText(keyFile), keyFile)));
        Assert.Equal(AgeFailure.Payload, e.Failure);
    }

    [Fact]
    public void APassphraseFileFromAgeIsRefusedAsUnsupported()
    {
        // age -p reads the passphrase from the terminal only; a scrypt file from the test kit stands in.
        var vector = File.ReadAllBytes(Path.Combine(BelayBinaries.RepoRoot, "tests", "Belay.Core.Tests", "Encryption", "testkit", "scrypt"));
        var file = vector[(vector.AsSpan().IndexOf("\n\n"u8) + 2)..];
        var e = Assert.Throws<AgeException>(() => Age.Decrypt(file, [AgeIdentity.Generate()]));
        Assert.Equal(AgeFailure.Unsupported, e.Failure);
        Assert.Contains("passphrase", e.Message, StringComparison.Ordinal);
    }
}
