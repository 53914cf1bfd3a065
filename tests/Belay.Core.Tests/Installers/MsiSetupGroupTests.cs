using Belay.Core.Encryption;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Minisign;
using Belay.TestSupport;

namespace Belay.Core.Tests.Installers;

/// <summary>The MSI's GROUP and GROUP_IDENTITY properties, through belay msi configure (core/Install/MsiSetup.cs).</summary>
public sealed class MsiSetupGroupTests : IDisposable
{
    private readonly TempDir _dir = new("belay-msi-group-");
    private readonly FakeClock _clock = new();
    private readonly List<string> _said = [];
    private readonly MinisignPublicKey _key = MinisignSecretKey.Generate().PublicKey;
    private readonly InstallLayout _layout;

    public MsiSetupGroupTests()
    {
        _layout = new InstallLayout(_dir.Combine("bin"), _dir.Combine("data", "etc"), _dir.Combine("data"), _dir.Combine("data", "logs"));
        Directory.CreateDirectory(_layout.VersionDir("1.2.3"));
        File.WriteAllText(_layout.AgentExe("1.2.3"), "agent");
    }

    public void Dispose() => _dir.Dispose();

    private InstallConfig Configure(string group = "", string identity = "", string feed = "https://feed.example.com/") =>
        MsiSetup.Configure(_layout, new MsiSettings("1.2.3", feed, "stable", "", [_key], group, identity), _clock, _said.Add);

    [Fact]
    public void GroupAndIdentityAreWrittenAndAnUpgradeWithoutThemKeepsBoth()
    {
        var identity = AgeIdentity.Generate();
        var file = _dir.Combine("group.key");
        File.WriteAllText(file, identity.ToFileText(_clock.GetUtcNow()));
        Configure(group: "web-prod", identity: file);
        Assert.Equal("web-prod", InstallConfig.Load(_layout.ConfigFile).Group);
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(_layout.GroupIdentityFile));
        Assert.Equal(AtomicFile.OwnerOnly, File.GetUnixFileMode(_layout.GroupIdentityFile));
        Assert.Contains(_said, s => s.Contains($"recipient {identity.Recipient}", StringComparison.Ordinal));
        Assert.DoesNotContain(_said, s => s.Contains("AGE-SECRET-KEY", StringComparison.Ordinal));

        Configure(feed: "");
        Assert.Equal("web-prod", InstallConfig.Load(_layout.ConfigFile).Group);
        Assert.True(File.Exists(_layout.GroupIdentityFile));
    }

    [Fact]
    public void AFreshInstallWithoutAGroupJoinsDefault()
    {
        Configure();
        Assert.Equal("default", InstallConfig.Load(_layout.ConfigFile).Group);
        Assert.False(File.Exists(_layout.GroupIdentityFile));
    }

    [Fact]
    public void ABadGroupOrIdentityFailsTheInstallBeforeAnythingIsWritten()
    {
        var bad = Assert.ThrowsAny<BelayException>(() => Configure(group: "Web Prod"));
        Assert.Contains("group: 'Web Prod' is not a group name", bad.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_layout.ConfigFile));

        var notAKey = _dir.Combine("not-a-key");
        File.WriteAllText(notAKey, "hello\n");
        var identity = Assert.Throws<BelayException>(() => Configure(identity: notAKey));
        Assert.Equal(ExitCodes.Usage, identity.ExitCode);
        Assert.Contains("is not an age identity file", identity.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_layout.ConfigFile));
        Assert.False(File.Exists(_layout.GroupIdentityFile));
    }
}
