using System.Text;
using Belay.Core.Deploy;
using Belay.Core.Encryption;
using Belay.TestSupport;

namespace Belay.Core.Tests.Deploy;

/// <summary>An app's environment with its secrets decrypted (core/Deploy/AppSecrets.cs), and the group identity file.</summary>
public sealed class AppSecretsTests : IDisposable
{
    private const string Value = "correct horse battery staple";
    private readonly TempDir _dir = new("belay-secrets-");
    private readonly AgeIdentity _identity = AgeIdentity.Generate();

    public void Dispose() => _dir.Dispose();

    private DesiredApp App(AgeRecipient? to = null) => new()
    {
        Version = "1",
        Env =
        {
            ["PORT"] = EnvValue.Plain("8080"),
            ["DB_PASSWORD"] = EnvValue.Secret(Age.EncryptArmored(Encoding.UTF8.GetBytes(Value), [to ?? _identity.Recipient])),
        },
    };

    [Fact]
    public void PlainValuesStayAndSecretsAreDecrypted()
    {
        var env = AppSecrets.ResolveEnvironment("shop", App(), [_identity]);
        Assert.Equal("8080", env["PORT"]);
        Assert.Equal(Value, env["DB_PASSWORD"]);
        Assert.Equal(["DB_PASSWORD"], AppSecrets.SecretNames(App()));
    }

    [Fact]
    public void ASecretForAnotherGroupFailsNamingTheAppAndVariableButNeverTheValue()
    {
        var e = Assert.Throws<SecretException>(() => AppSecrets.ResolveEnvironment("shop", App(AgeIdentity.Generate().Recipient), [_identity]));
        Assert.Equal("shop", e.App);
        Assert.Equal("DB_PASSWORD", e.Variable);
        Assert.Equal(AgeFailure.NoMatchingIdentity, e.Failure);
        Assert.StartsWith("app shop: secret DB_PASSWORD does not decrypt:", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Value, e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ASecretWithoutAnIdentitySaysHowToInstallOne()
    {
        var e = Assert.Throws<SecretException>(() => AppSecrets.ResolveEnvironment("shop", App(), null));
        Assert.Contains("belay install --group-identity FILE", e.Message, StringComparison.Ordinal);
        // An app without secrets needs no identity.
        Assert.Equal("8080", AppSecrets.ResolveEnvironment("web", new DesiredApp { Env = { ["PORT"] = EnvValue.Plain("8080") } }, null)["PORT"]);
    }

    [Fact]
    public void ATamperedSecretFails()
    {
        var app = App();
        var armored = app.Env["DB_PASSWORD"].Age!;
        var lines = armored.Split('\n');
        var body = Convert.FromBase64String(lines[^3]);
        body[^1] ^= 1;
        lines[^3] = Convert.ToBase64String(body);
        app.Env["DB_PASSWORD"] = EnvValue.Secret(string.Join('\n', lines));
        var e = Assert.Throws<SecretException>(() => AppSecrets.ResolveEnvironment("shop", app, [_identity]));
        Assert.Equal(AgeFailure.Payload, e.Failure);
    }

    [Fact]
    public void TheIdentityFileIsReadWithCommentsAndRefusedWhenOthersMayReadIt()
    {
        var path = _dir.Combine("group-identity");
        Assert.Null(AppSecrets.LoadIdentity(path));
        File.WriteAllText(path, _identity.ToFileText(DateTimeOffset.UtcNow));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        Assert.Equal(_identity.Recipient, AppSecrets.LoadIdentity(path)!.Single().Recipient);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            var e = Assert.Throws<SecretException>(() => AppSecrets.LoadIdentity(path));
            Assert.Contains("readable or writable by others (mode 604)", e.Message, StringComparison.Ordinal);
            Assert.Contains($"chmod 600 {path}", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void AFileThatIsNotAnIdentityIsNamedByLineWithoutEchoingIt()
    {
        var path = _dir.Combine("group-identity");
        var key = _identity.ToFileText(DateTimeOffset.UtcNow).Split('\n')[2];
        File.WriteAllText(path, "# a comment\n" + key[..^3] + "QQQ\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        var e = Assert.Throws<SecretException>(() => AppSecrets.LoadIdentity(path));
        Assert.True(e.Message.Contains($"{path}, line 2: the AGE-SECRET-KEY-1… line is not a valid key: its checksum does not match", StringComparison.Ordinal), e.Message);
        Assert.DoesNotContain(key[20..40], e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("age1", "is not an age recipient")]
    [InlineData("ssh-ed25519 AAAA", "SSH recipients are not supported")]
    [InlineData("AGE1QQQ", "an age recipient starts with age1")]
    public void ARecipientThatIsNotOneSaysWhy(string text, string expected)
    {
        Assert.False(AgeRecipient.TryParse(text, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void KeysRoundTripThroughTheirBech32Text()
    {
        var recipient = _identity.Recipient.ToString();
        Assert.StartsWith("age1", recipient, StringComparison.Ordinal);
        Assert.Equal(_identity.Recipient, AgeRecipient.Parse(recipient));
        var line = _identity.ToFileText(DateTimeOffset.UtcNow).Split('\n')[2];
        Assert.StartsWith("AGE-SECRET-KEY-1", line, StringComparison.Ordinal);
        Assert.True(AgeIdentity.TryParse(line, out var again, out _));
        Assert.Equal(_identity.Recipient, again.Recipient);
        Assert.False(AgeIdentity.TryParse(line[..20] + line[20..].ToLowerInvariant(), out _, out var mixed));
        Assert.Contains("mixes upper and lower case", mixed, StringComparison.Ordinal);
        Assert.DoesNotContain("AGE-SECRET-KEY", _identity.ToString(), StringComparison.Ordinal);
    }
}
