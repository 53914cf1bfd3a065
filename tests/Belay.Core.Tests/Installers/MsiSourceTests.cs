using System.Xml.Linq;
using Belay.Core.Publishing;
using Belay.Core.Services;
using Belay.TestSupport;

namespace Belay.Core.Tests.Installers;

/// <summary>
/// The MSI: installers/windows/belay.wxs rendered (MsiSource), built with the real wixl and
/// msibuild, and its tables read back with msiinfo export, row by row.
/// </summary>
public sealed class MsiSourceTests : IDisposable
{
    private readonly TempDir _dir = new("belay-msi-");

    public void Dispose() => _dir.Dispose();

    public static string Template => File.ReadAllText(Path.Combine(BelayBinaries.RepoRoot, "installers", "windows", MsiSource.FileName));

    [Theory]
    [InlineData("1.2.3", "1.2.3")]
    [InlineData("0.1.0-dev.4", "0.1.0")]
    [InlineData("255.255.65535+build.7", "255.255.65535")]
    public void The_product_version_is_the_three_numbers(string version, string expected) =>
        Assert.Equal(expected, MsiSource.ProductVersion(version));

    [Theory]
    [InlineData("256.0.0")]
    [InlineData("1.256.0")]
    [InlineData("1.0.65536")]
    [InlineData("1.2")]
    [InlineData("v1.2.3")]
    public void A_version_windows_installer_cannot_hold_is_refused(string version)
    {
        var e = Assert.Throws<BelayException>(() => MsiSource.ProductVersion(version));
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
    }

    [Fact]
    public void The_source_is_well_formed_wix_with_every_value_filled_and_escaped()
    {
        var source = MsiSource.Render(Template, new MsiValues("1.4.2-rc.1", @"/tmp/a&b <x>/belay.exe", "/tmp/agent/belay-agent.exe"));
        Assert.DoesNotContain("{{", source, StringComparison.Ordinal);
        var doc = XDocument.Parse(source);
        XNamespace wix = "http://schemas.microsoft.com/wix/2006/wi";
        var product = doc.Root!.Element(wix + "Product")!;
        Assert.Equal("1.4.2", (string?)product.Attribute("Version"));
        Assert.Equal(MsiSource.UpgradeCode, (string?)product.Attribute("UpgradeCode"));
        var files = doc.Descendants(wix + "File").ToDictionary(f => (string)f.Attribute("Id")!, f => (string)f.Attribute("Source")!);
        Assert.Equal("/tmp/a&b <x>/belay.exe", files["belay.exe"]);
        Assert.Equal("1.4.2-rc.1", (string?)doc.Descendants(wix + "Directory").Single(d => (string?)d.Attribute("Id") == "AGENTDIR").Attribute("Name"));
        Assert.Equal(ServiceDefinition.For(new Core.Install.InstallLayout("/b", "/c", "/s", "/l"), Core.Install.InstallScope.System).Description,
            (string?)doc.Descendants(wix + "ServiceInstall").Single().Attribute("Description"));
    }

    [Fact]
    public void Component_guids_are_stable_and_the_agent_one_changes_with_the_version()
    {
        Assert.Equal(MsiSource.DerivedGuid("component/agent/1.0.0"), MsiSource.DerivedGuid("component/agent/1.0.0"));
        Assert.NotEqual(MsiSource.DerivedGuid("component/agent/1.0.0"), MsiSource.DerivedGuid("component/agent/1.0.1"));
        Assert.Matches("^[0-9A-F]{8}-[0-9A-F]{4}-8[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$", MsiSource.DerivedGuid("component/keeper"));
    }

    [Fact]
    public void The_built_msi_has_the_intended_tables()
    {
        var msi = Build("1.2.3");
        var files = Table(msi, "File");
        Assert.Equal(["belay.exe", "Keeper", "belay.exe"], files["belay.exe"][..3]);
        Assert.Equal(["belay_agent.exe", "Agent", "belay-agent.exe"], files["belay_agent.exe"][..3]);
        var directories = Table(msi, "Directory");
        Assert.Equal(["BINDIR", "INSTALLDIR", "bin"], directories["BINDIR"]);
        Assert.Equal(["INSTALLDIR", "ProgramFiles64Folder", "Belay"], directories["INSTALLDIR"]);
        Assert.Equal(["AGENTDIR", "VERSIONSDIR", "1.2.3"], directories["AGENTDIR"]);
        Assert.Equal(["VERSIONSDIR", "INSTALLDIR", "versions"], directories["VERSIONSDIR"]);
        Assert.Equal(MsiSource.DerivedGuid("component/agent/1.2.3"), Table(msi, "Component")["Agent"][1].Trim('{', '}'));

        // ServiceInstall: name, display name, type 0x10 own process, start 2 auto, error control 1 normal,
        // no account (LocalSystem), the arguments after the quoted image path, the component, the description.
        var service = Table(msi, "ServiceInstall")["Belay"];
        Assert.Equal(["Belay", "Belay", "Belay keeper", "16", "2", "1"], service[..6]);
        Assert.Equal("", service[8]); // StartName: LocalSystem
        Assert.Equal(@"run --config ""[CommonAppDataFolder]Belay\etc\config.json"" --service", service[10]);
        Assert.Equal("Keeper", service[11]);
        Assert.Equal(MsiSource.ServiceDescription, service[12]);

        // ServiceControl: events 0x1 start on install | 0x2 stop on install | 0x20 stop on uninstall | 0x80 delete on uninstall; wait.
        var control = Table(msi, "ServiceControl")["Belay"];
        Assert.Equal(["Belay", "Belay", "163", "", "1", "Keeper"], control);

        var properties = Table(msi, "Property");
        Assert.Equal("stable", properties["CHANNEL"][1]);
        Assert.Equal("TOKEN;ENROLL_TOKEN", properties["MsiHiddenProperties"][1]);
        Assert.Equal("1.2.3", properties["ProductVersion"][1]);
        Assert.Equal("{" + MsiSource.UpgradeCode + "}", properties["UpgradeCode"][1], ignoreCase: true);
        Assert.False(properties.ContainsKey("FEED"));
        Assert.False(properties.ContainsKey("TOKEN"));

        // Custom actions: type 18 (an EXE this package installs) | 0x400 deferred | 0x800 no impersonation, and HideTarget
        // (0x2000) on the one that carries TOKEN, from msibuild since wixl drops it.
        var actions = Table(msi, "CustomAction");
        Assert.Equal(["BelayConfigure", "11282", "belay.exe"], actions["BelayConfigure"][..3]);
        Assert.Equal(@"msi configure --version 1.2.3 --feed ""[FEED]"" --channel ""[CHANNEL]"" --token ""[TOKEN]"" --root-key ""[ROOTKEY]"" --group ""[GROUP]"" --group-identity ""[GROUP_IDENTITY]"" --hub ""[HUB]"" --enroll-token ""[ENROLL_TOKEN]"" --hub-ca ""[HUB_CA]""", actions["BelayConfigure"][3]);
        Assert.Equal(["BelayRemove", "3090", "belay.exe", @"msi remove --purge ""[PURGE]"""], actions["BelayRemove"][..4]);
        // Rollback: 18 + deferred + rollback + no impersonation + exit code ignored; commit the same with commit.
        Assert.Equal(["BelayRollback", "3410", "belay.exe", "msi rollback"], actions["BelayRollback"][..4]);
        Assert.Equal(["BelayCommit", "3666", "belay.exe", "msi commit"], actions["BelayCommit"][..4]);

        var sequence = Rows(msi, "InstallExecuteSequence").ToDictionary(r => r[0], r => (Condition: r[1], Sequence: int.Parse(r[2], System.Globalization.CultureInfo.InvariantCulture)));
        int At(string action) => sequence[action].Sequence;
        Assert.True(At("InstallFiles") < At("InstallServices") && At("InstallServices") < At("BelayConfigure") && At("BelayConfigure") < At("StartServices"),
            $"InstallFiles {At("InstallFiles")}, InstallServices {At("InstallServices")}, BelayConfigure {At("BelayConfigure")}, StartServices {At("StartServices")}");
        Assert.Equal("NOT REMOVE~=\"ALL\"", sequence["BelayConfigure"].Condition);
        // The rollback action is in the script before BelayConfigure (so a failure in it or after it undoes it), the commit after.
        Assert.True(At("InstallServices") < At("BelayRollback") && At("BelayRollback") < At("BelayConfigure") && At("BelayConfigure") < At("BelayCommit") && At("BelayCommit") < At("StartServices"));
        // InstallExecute between InstallServices and the rollback action: Wine's msi then has belay.exe still installed when it runs it.
        Assert.True(At("InstallServices") < At("InstallExecute") && At("InstallExecute") < At("BelayRollback"),
            $"InstallServices {At("InstallServices")}, InstallExecute {At("InstallExecute")}, BelayRollback {At("BelayRollback")}");
        // The two folders above the components' own, removed once empty (wixl gives RemoveFolder the component's folder; msibuild corrects it).
        var removeFile = Table(msi, "RemoveFile");
        Assert.Equal(["RemoveVersionsFolder", "Keeper", "", "VERSIONSDIR", "2"], removeFile["RemoveVersionsFolder"]);
        Assert.Equal(["RemoveInstallFolder", "Keeper", "", "INSTALLDIR", "2"], removeFile["RemoveInstallFolder"]);
        Assert.True(At("StopServices") < At("DeleteServices") && At("DeleteServices") < At("BelayRemove") && At("BelayRemove") < At("RemoveFiles"));
        Assert.Equal("REMOVE~=\"ALL\" AND NOT UPGRADINGPRODUCTCODE", sequence["BelayRemove"].Condition);
        Assert.Equal(At("InstallInitialize") + 1, At("RemoveExistingProducts"));
        Assert.True(At("FindRelatedProducts") < At("LaunchConditions"));

        var upgrade = Rows(msi, "Upgrade");
        Assert.Contains(upgrade, r => r[1] == "" && r[2] == "1.2.3" && r[6] == "WIX_UPGRADE_DETECTED");
        Assert.Contains(upgrade, r => r[1] == "1.2.3" && r[6] == "WIX_DOWNGRADE_DETECTED");
        var conditions = Table(msi, "LaunchCondition");
        Assert.StartsWith("Belay needs a feed", conditions["Installed OR FEED OR WIX_UPGRADE_DETECTED"][1], StringComparison.Ordinal);
        Assert.Contains("NOT WIX_DOWNGRADE_DETECTED", conditions.Keys);
    }

    private string Build(string version)
    {
        ExternalTool.Require("wixl", "wixl");
        var msibuild = ExternalTool.Require("msibuild", "msitools");
        var belay = _dir.Combine("belay.exe");
        var agent = _dir.Combine("belay-agent.exe");
        File.WriteAllText(belay, "stand-in for belay.exe");
        File.WriteAllText(agent, "stand-in for belay-agent.exe");
        var msi = _dir.Combine(MsiSource.MsiFileName(version));
        MsiSource.Build(Template, new MsiValues(version, belay, agent), msi, SystemProcessRunner.Instance, msibuild: msibuild);
        Assert.True(File.Exists(msi));
        return msi;
    }

    /// <summary>Rows by their first column.</summary>
    private static Dictionary<string, string[]> Table(string msi, string table) => Rows(msi, table).ToDictionary(r => r[0], r => r, StringComparer.Ordinal);

    /// <summary>`msiinfo export MSI TABLE`: the rows, columns split at tabs (three header lines skipped).</summary>
    private static List<string[]> Rows(string msi, string table)
    {
        var msiinfo = ExternalTool.Require("msiinfo", "msitools");
        var result = ExternalTool.Run(msiinfo, ["export", msi, table]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.StdOut.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(3)
            .Select(l => l.Split('\t')).ToList();
    }
}
