using System.Text;
using System.Text.Json;
using Belay.Core.Deploy;
using Belay.Core.Encryption;
using Belay.Core.Hub;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.TestSupport;

namespace Belay.Core.Tests.IO;

/// <summary>
/// DPAPI for the secrets a Windows host keeps (config.json's token, hub.json's credential, the group
/// identity), checked through a fake crypt32 (the real one runs under Wine: WineMsiTests).
/// </summary>
public sealed class SecretsAtRestTests : IDisposable
{
    private const string Token = "s3cret-t0ken";
    private const string Credential = "bhc_credential_value";
    private readonly TempDir _dir = new("belay-dpapi-");
    private readonly InstallLayout _layout;
    private readonly FakeDataProtection _api = new();
    private readonly FakeFileSecurityApi _acl = new();
    private readonly SecretProtection _protection;

    public SecretsAtRestTests()
    {
        _layout = new InstallLayout(_dir.Combine("bin"), _dir.Combine("etc"), _dir.Combine("state"), _dir.Combine("log"));
        Directory.CreateDirectory(_layout.ConfigDir);
        _protection = new SecretProtection(_api, OwnerOnlyScope.System);
    }

    public void Dispose() => _dir.Dispose();

    private InstallConfig Config(string? token = Token, string scope = "system") => new()
    {
        Feeds = ["https://feed.example.com/"],
        RootKeys = ["RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"],
        Scope = scope,
        Token = token,
        Paths = ConfigPaths.From(_layout),
    };

    private OwnerOnlyAcl Acl => new(_acl);

    private static HubSettings Hub() => new() { Url = "https://hub.example.com/", HostId = "h-1", Group = "web" };

    private static string IdentityText(AgeIdentity identity) => identity.ToFileText(DateTimeOffset.UtcNow);

    [Fact]
    public void ConfigJsonKeepsTheTokenProtectedForTheMachineAndReadsItBack()
    {
        Config().Save(_layout.ConfigFile, _protection, Acl);
        var text = File.ReadAllText(_layout.ConfigFile);
        Assert.DoesNotContain(Token, text, StringComparison.Ordinal);
        using (var json = JsonDocument.Parse(text))
        {
            Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("token").ValueKind);
            Assert.False(string.IsNullOrEmpty(json.RootElement.GetProperty("tokenDpapi").GetString()));
        }
        var read = InstallConfig.Parse(File.ReadAllBytes(_layout.ConfigFile), _layout.ConfigFile, _protection);
        Assert.Equal(Token, read.Token);
        Assert.False(read.TokenInClear);
        Assert.Null(read.TokenProblem);
        Assert.Equal([$"CryptProtectData LOCAL_MACHINE {Token.Length} bytes", $"CryptUnprotectData {Token.Length + "dpapi:HOST1:M:".Length} bytes"], _api.Calls);
        Assert.Single(_acl.Dacls); // the owner-only ACL is still set (on the temporary file the rename keeps)
    }

    [Fact]
    public void AUserInstallProtectsForTheUser()
    {
        Config(scope: "user").Save(_layout.ConfigFile, new SecretProtection(_api, OwnerOnlyScope.User), Acl);
        Assert.Equal($"CryptProtectData user {Token.Length} bytes", Assert.Single(_api.Calls));
    }

    [Fact]
    public void WithoutDpapiTheTokenStaysInClearAndNothingIsCalled()
    {
        Config().Save(_layout.ConfigFile, null, Acl);
        var read = InstallConfig.Parse(File.ReadAllBytes(_layout.ConfigFile), _layout.ConfigFile, null);
        Assert.Equal(Token, read.Token);
        Assert.True(read.TokenInClear);
        Assert.Null(read.TokenDpapi);
        Assert.Empty(_api.Calls);
    }

    [Fact]
    public void FilesWrittenInClearBeforeStillReadAndAreRewrittenProtectedOnce()
    {
        Config().Save(_layout.ConfigFile, null, Acl);
        var hub = Hub();
        hub.SetCredential(Credential, (SecretProtection?)null);
        hub.Save(HubSettings.PathIn(_layout), OwnerOnlyScope.System, Acl);
        var identity = AgeIdentity.Generate();
        File.WriteAllText(_layout.GroupIdentityFile, IdentityText(identity));
        File.SetUnixFileMode(_layout.GroupIdentityFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        // Read as they are, in clear.
        Assert.Equal(Token, InstallConfig.Parse(File.ReadAllBytes(_layout.ConfigFile), _layout.ConfigFile, _protection).Token);
        Assert.Equal(Credential, HubSettings.TryLoad(HubSettings.PathIn(_layout))!.ReadCredential(_protection));
        Assert.Equal(identity.Recipient, AppSecrets.LoadIdentity(_layout.GroupIdentityFile, _protection)!.Single().Recipient);
        Assert.Empty(_api.Calls);
        Assert.All(SecretsAtRest.Check(_layout, _protection), f => Assert.False(f.Ok, f.Detail));

        var done = SecretsAtRest.ProtectPlain(_layout, _protection, Acl);
        Assert.Equal(
        [
            $"{_layout.ConfigFile}: the token is now DPAPI-protected",
            $"{HubSettings.PathIn(_layout)}: the hub credential is now DPAPI-protected",
            $"{_layout.GroupIdentityFile}: the group identity is now DPAPI-protected",
        ], done);
        Assert.Equal(3, _api.Calls.Count(c => c.StartsWith("CryptProtectData LOCAL_MACHINE", StringComparison.Ordinal)));
        Assert.DoesNotContain(Token, File.ReadAllText(_layout.ConfigFile), StringComparison.Ordinal);
        Assert.DoesNotContain(Credential, File.ReadAllText(HubSettings.PathIn(_layout)), StringComparison.Ordinal);
        Assert.StartsWith(SecretProtection.Marker + "\n", File.ReadAllText(_layout.GroupIdentityFile), StringComparison.Ordinal);
        Assert.DoesNotContain("AGE-SECRET-KEY", File.ReadAllText(_layout.GroupIdentityFile), StringComparison.Ordinal);

        // Read back through DPAPI; doctor finds each protected and readable; a second pass rewrites nothing.
        Assert.Equal(Token, InstallConfig.Parse(File.ReadAllBytes(_layout.ConfigFile), _layout.ConfigFile, _protection).Token);
        Assert.Equal(Credential, HubSettings.TryLoad(HubSettings.PathIn(_layout))!.ReadCredential(_protection));
        Assert.Equal(identity.Recipient, AppSecrets.LoadIdentity(_layout.GroupIdentityFile, _protection)!.Single().Recipient);
        var findings = SecretsAtRest.Check(_layout, _protection);
        Assert.Equal(3, findings.Count);
        Assert.All(findings, f => Assert.True(f.Ok, f.Detail));
        _api.Calls.Clear();
        Assert.Empty(SecretsAtRest.ProtectPlain(_layout, _protection, Acl));
        Assert.DoesNotContain(_api.Calls, c => c.StartsWith("CryptProtectData", StringComparison.Ordinal));
    }

    [Fact]
    public void ATokenFromAnotherMachineDoesNotStopTheConfigLoadingIsReportedAndIsNotThrownAway()
    {
        Config().Save(_layout.ConfigFile, new SecretProtection(new FakeDataProtection("OTHER"), OwnerOnlyScope.System), Acl);
        var read = InstallConfig.Parse(File.ReadAllBytes(_layout.ConfigFile), _layout.ConfigFile, _protection);
        Assert.Null(read.Token);
        Assert.Contains("does not unprotect on this machine (Windows error 13)", read.TokenProblem, StringComparison.Ordinal);
        var blob = read.TokenDpapi;
        read.Channel = "beta";
        read.Save(_layout.ConfigFile, _protection, Acl);
        Assert.Equal(blob, InstallConfig.Parse(File.ReadAllBytes(_layout.ConfigFile), _layout.ConfigFile, null).TokenDpapi);
        var finding = Assert.Single(SecretsAtRest.Check(_layout, _protection));
        Assert.False(finding.Ok);
        Assert.Contains("does not unprotect on this machine", finding.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void AProtectedTokenReadWithoutDpapiSaysOnlyWindowsCanReadIt()
    {
        Config().Save(_layout.ConfigFile, _protection, Acl);
        var read = InstallConfig.Parse(File.ReadAllBytes(_layout.ConfigFile), _layout.ConfigFile, null);
        Assert.Null(read.Token);
        Assert.Contains("only the Windows machine that wrote it can read", read.TokenProblem, StringComparison.Ordinal);
    }

    [Fact]
    public void AFailedProtectWritesNothing()
    {
        _api.FailProtectWith = 87;
        var e = Assert.Throws<BelayException>(() => Config().Save(_layout.ConfigFile, _protection, Acl));
        Assert.Contains("cannot protect", e.Message, StringComparison.Ordinal);
        Assert.Contains("Windows error 87", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_layout.ConfigFile));
    }

    [Fact]
    public void TheGroupIdentityIsInstalledSealedAndAReinstallOfTheSameKeyChangesNothing()
    {
        var identity = AgeIdentity.Generate();
        var source = _dir.Combine("group.key");
        File.WriteAllText(source, IdentityText(identity));
        var said = new List<string>();
        var read = GroupIdentityFile.Read(source, said.Add);
        GroupIdentityFile.Install(read, _layout, OwnerOnlyScope.System, _protection, Acl, said.Add);
        Assert.True(SecretProtection.IsSealed(File.ReadAllBytes(_layout.GroupIdentityFile)));
        Assert.Contains("and DPAPI-protected", said[^1], StringComparison.Ordinal);
        var sealedBytes = File.ReadAllBytes(_layout.GroupIdentityFile);
        GroupIdentityFile.Install(read, _layout, OwnerOnlyScope.System, _protection, Acl, said.Add);
        Assert.Contains("unchanged", said[^1], StringComparison.Ordinal);
        Assert.Equal(sealedBytes, File.ReadAllBytes(_layout.GroupIdentityFile));
        var e = Assert.Throws<SecretException>(() => AppSecrets.LoadIdentity(_layout.GroupIdentityFile, null));
        Assert.Contains("only the Windows machine that wrote it can read", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheHubCredentialIsWrittenProtectedAndNeverInClear()
    {
        var hub = Hub();
        hub.SetCredential(Credential, _protection);
        Assert.Null(hub.Credential);
        Assert.False(hub.NeedsProtection(_protection));
        Assert.Equal(Credential, hub.ReadCredential(_protection));
        var e = Assert.Throws<BelayException>(() => hub.ReadCredential(null));
        Assert.Contains("DPAPI-protected", e.Message, StringComparison.Ordinal);
        Assert.Equal(Encoding.UTF8.GetByteCount(Credential), int.Parse(_api.Calls[0].Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture));
    }
}
