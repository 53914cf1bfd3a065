using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Minisign;
using Belay.Core.Services;
using Belay.Core.Services.Windows;
using Belay.Core.Tests.Services.Windows;
using Belay.Core.Update;
using Belay.TestSupport;

namespace Belay.Core.Tests.Installers;

/// <summary>The MSI's custom actions (belay msi configure|remove): the files they write and the SCM calls they make.</summary>
public sealed class MsiSetupTests : IDisposable
{
    private readonly TempDir _dir = new("belay-msi-setup-");
    private readonly FakeClock _clock = new();
    private readonly List<string> _said = [];
    private readonly MinisignPublicKey _key = MinisignSecretKey.Generate().PublicKey;
    private readonly InstallLayout _layout;

    public MsiSetupTests()
    {
        _layout = new InstallLayout(_dir.Combine("bin"), _dir.Combine("data", "etc"), _dir.Combine("data"), _dir.Combine("data", "logs"));
    }

    public void Dispose() => _dir.Dispose();

    private void Bundle(string version)
    {
        Directory.CreateDirectory(_layout.VersionDir(version));
        File.WriteAllText(_layout.AgentExe(version), "agent " + version);
    }

    private InstallConfig Configure(string version, string feed = "", string channel = "stable", string token = "", bool key = true) =>
        MsiSetup.Configure(_layout, new MsiSettings(version, feed, channel, token, key ? [_key] : []), _clock, _said.Add);

    [Fact]
    public void A_fresh_install_writes_the_config_from_the_properties_and_makes_the_bundled_version_current()
    {
        Bundle("1.2.3");
        Configure("1.2.3", feed: "https://feed.example.com/belay", channel: "beta", token: "s3cret");

        var config = InstallConfig.Load(_layout.ConfigFile);
        Assert.Equal(["https://feed.example.com/belay"], config.Feeds);
        Assert.Equal("beta", config.Channel);
        Assert.Equal("s3cret", config.Token);
        Assert.Equal([_key.ToBase64()], config.RootKeys);
        Assert.Equal("windows", config.ServiceManager);
        Assert.Equal("system", config.Scope);
        Assert.Equal(_layout, config.Layout);
        Assert.Equal(AtomicFile.OwnerOnly, File.GetUnixFileMode(_layout.ConfigFile));
        var state = InstallStateStore.Load(_layout.StateFile);
        Assert.Equal("1.2.3", state.Current);
        Assert.Null(state.Previous);
        Assert.Matches("^[0-9a-f]{32}$", File.ReadAllText(_layout.HostIdFile).Trim());
        Assert.True(Directory.Exists(_layout.LogDir));
        Assert.Contains(_said, s => s.Contains("token set", StringComparison.Ordinal));
        Assert.DoesNotContain(_said, s => s.Contains("s3cret", StringComparison.Ordinal));
    }

    [Fact]
    public void Without_a_feed_a_fresh_install_is_refused_and_writes_nothing()
    {
        Bundle("1.2.3");
        var e = Assert.Throws<BelayException>(() => Configure("1.2.3"));
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
        Assert.Contains("FEED=https://", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_layout.ConfigFile));
        Assert.False(File.Exists(_layout.StateFile));
    }

    [Fact]
    public void An_upgrade_without_properties_keeps_feed_token_and_keys_and_switches_to_the_new_version()
    {
        Bundle("1.0.0");
        Configure("1.0.0", feed: "https://feed.example.com/", token: "t0k");
        var hostId = File.ReadAllText(_layout.HostIdFile);
        // The old MSI's uninstall removed versions\1.0.0 before the new one installed 1.1.0.
        Directory.Delete(_layout.VersionDir("1.0.0"), recursive: true);
        Bundle("1.1.0");
        Configure("1.1.0", key: false);

        var config = InstallConfig.Load(_layout.ConfigFile);
        Assert.Equal(["https://feed.example.com/"], config.Feeds);
        Assert.Equal("t0k", config.Token);
        Assert.Equal([_key.ToBase64()], config.RootKeys);
        var state = InstallStateStore.Load(_layout.StateFile);
        Assert.Equal("1.1.0", state.Current);
        Assert.Null(state.Previous);
        Assert.Equal(hostId, File.ReadAllText(_layout.HostIdFile));

        // A version an update downloaded is still there: it stays as the previous one.
        Bundle("1.2.0");
        Configure("1.2.0", feed: "https://mirror.example.com/");
        state = InstallStateStore.Load(_layout.StateFile);
        Assert.Equal(("1.2.0", "1.1.0"), (state.Current, state.Previous));
        Assert.Equal(["https://mirror.example.com/"], InstallConfig.Load(_layout.ConfigFile).Feeds);
    }

    [Fact]
    public void A_missing_agent_or_root_key_is_an_error()
    {
        Assert.Contains("did not install the agent 1.2.3", Assert.Throws<BelayException>(() => Configure("1.2.3", feed: "https://f.example/")).Message, StringComparison.Ordinal);
        Bundle("1.2.3");
        Assert.Contains("ROOTKEY=", Assert.Throws<BelayException>(() => Configure("1.2.3", feed: "https://f.example/", key: false)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Remove_takes_the_versions_and_with_purge_the_config_state_and_logs()
    {
        Bundle("1.2.3");
        Configure("1.2.3", feed: "https://feed.example.com/");
        Bundle("1.3.0"); // downloaded by an update: the MSI does not know it
        MsiSetup.Remove(_layout, purge: false, _said.Add);
        Assert.False(Directory.Exists(_layout.VersionsDir));
        Assert.True(File.Exists(_layout.ConfigFile));
        Assert.True(File.Exists(_layout.StateFile));
        Assert.True(File.Exists(_layout.HostIdFile));
        MsiSetup.Remove(_layout, purge: true, _said.Add);
        Assert.False(Directory.Exists(_layout.StateDir));
        Assert.False(Directory.Exists(_layout.ConfigDir));
        Assert.False(Directory.Exists(_layout.LogDir));
    }

    [Fact]
    public void The_service_the_msi_registered_gets_delayed_start_and_recovery_through_change_service_config2()
    {
        var scm = new FakeServiceControlManager();
        scm.Add("Belay");
        var definition = ServiceDefinition.For(new InstallLayout(@"C:\Program Files\Belay", @"C:\ProgramData\Belay\etc", @"C:\ProgramData\Belay", @"C:\ProgramData\Belay\logs"), InstallScope.System);
        WindowsServiceSettings.Apply(scm, definition);

        Assert.Equal(
        [
            "OpenSCManager(CONNECT)",
            "OpenService(Belay, QUERY_CONFIG|CHANGE_CONFIG|START)",
            $"ChangeServiceConfig(WIN32_OWN_PROCESS, AUTO_START, ERROR_NORMAL, {WindowsServiceBackend.ImagePath(definition)}, unchanged, \"Belay keeper\")",
            $"ChangeServiceConfig2(DESCRIPTION, \"{definition.Description}\")",
            "ChangeServiceConfig2(DELAYED_AUTO_START_INFO, True)",
            "ChangeServiceConfig2(FAILURE_ACTIONS, reset=86400s [restart/5000ms, restart/5000ms, restart/5000ms])",
            "ChangeServiceConfig2(FAILURE_ACTIONS_FLAG, True)",
            "CloseServiceHandle(Belay)",
            "CloseServiceHandle(manager)",
        ], scm.Calls);
        var service = scm.Services["Belay"];
        Assert.StartsWith(@"""C:\Program Files\Belay", service.ImagePath, StringComparison.Ordinal); // quoted (on Linux the layout joins with /)
        Assert.EndsWith(" --service", service.ImagePath, StringComparison.Ordinal);
        Assert.True(service.DelayedAutoStart);
        Assert.True(service.FailureActionsOnNonCrash);
        Assert.Equal(3, service.FailureActions!.Actions.Count);
        Assert.Equal(0, scm.OpenHandles);
    }

    [Fact]
    public void Configuring_a_service_that_is_not_registered_says_so_and_closes_the_manager()
    {
        var scm = new FakeServiceControlManager();
        var definition = ServiceDefinition.For(new InstallLayout(@"C:\B", @"C:\D\etc", @"C:\D", @"C:\D\logs"), InstallScope.System);
        var e = Assert.Throws<ServiceControlException>(() => WindowsServiceSettings.Apply(scm, definition));
        Assert.Equal(Scm.ErrorServiceDoesNotExist, e.Error);
        Assert.Equal(0, scm.OpenHandles);
    }

    [Fact]
    public void A_failed_first_install_is_rolled_back_to_nothing_config_and_token_first()
    {
        Bundle("1.2.3");
        Configure("1.2.3", feed: "https://feed.example.com/", token: "s3cret");
        Assert.True(File.Exists(MsiSetup.MarkerPath(_layout)));
        File.WriteAllText(Path.Combine(_layout.LogDir, "keeper.log"), "the keeper ran for a moment\n"); // what StartServices' keeper wrote

        var removed = MsiSetup.Rollback(_layout, _said.Add);

        Assert.Equal(_layout.ConfigFile, removed[0]);
        Assert.False(Directory.Exists(_layout.StateDir)); // ProgramData\Belay did not exist before: all of it goes
        Assert.True(Directory.Exists(_layout.VersionDir("1.2.3"))); // what Windows Installer installed is its own to roll back
        Assert.DoesNotContain(_said, line => line.Contains("cannot", StringComparison.Ordinal)); // the list went with its folder: nothing to complain of
    }

    [Fact]
    public void A_rollback_keeps_what_an_earlier_uninstall_left()
    {
        Directory.CreateDirectory(_layout.StateDir);
        File.WriteAllText(_layout.HostIdFile, "0123456789abcdef0123456789abcdef\n");
        Bundle("1.2.3");
        Configure("1.2.3", feed: "https://feed.example.com/", token: "s3cret");

        MsiSetup.Rollback(_layout, _said.Add);

        Assert.False(File.Exists(_layout.ConfigFile));
        Assert.False(File.Exists(_layout.StateFile));
        Assert.False(File.Exists(MsiSetup.MarkerPath(_layout)));
        Assert.Equal("0123456789abcdef0123456789abcdef\n", File.ReadAllText(_layout.HostIdFile));
    }

    [Fact]
    public void A_rollback_in_a_folder_an_uninstall_kept_takes_the_group_identity_and_the_hub_credential_too()
    {
        Directory.CreateDirectory(_layout.ConfigDir); // left by an uninstall without PURGE=1
        var identityFile = _dir.Combine("group.key");
        File.WriteAllText(identityFile, Belay.Core.Encryption.AgeIdentity.Generate().ToFileText(DateTimeOffset.UtcNow));
        Bundle("1.2.3");
        MsiSetup.Configure(_layout, new MsiSettings("1.2.3", "https://feed.example.com/", "stable", "s3cret", [_key], "web", identityFile), _clock, _said.Add);
        File.WriteAllText(Belay.Core.Hub.HubSettings.PathIn(_layout), "{}"); // what enrollment writes after configure
        Assert.True(File.Exists(_layout.GroupIdentityFile));

        MsiSetup.Rollback(_layout, _said.Add);

        Assert.False(File.Exists(_layout.ConfigFile));
        Assert.False(File.Exists(_layout.GroupIdentityFile));
        Assert.False(File.Exists(Belay.Core.Hub.HubSettings.PathIn(_layout)));
        Assert.True(Directory.Exists(_layout.ConfigDir)); // the folder was there before
    }

    [Fact]
    public void An_upgrade_has_nothing_to_roll_back_and_a_commit_forgets_the_list()
    {
        Bundle("1.2.3");
        Configure("1.2.3", feed: "https://feed.example.com/", token: "s3cret");
        MsiSetup.Commit(_layout);
        Assert.False(File.Exists(MsiSetup.MarkerPath(_layout)));

        Bundle("1.3.0");
        Configure("1.3.0");
        Assert.False(File.Exists(MsiSetup.MarkerPath(_layout)));
        Assert.Empty(MsiSetup.Rollback(_layout, _said.Add));
        Assert.Equal("s3cret", InstallConfig.Load(_layout.ConfigFile).Token);
    }
}
