using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Belay.Core.Services;
using Belay.Core.Versioning;

namespace Belay.Core.Publishing;

/// <summary>What the MSI source is rendered with: the product version and the two Windows executables it carries.</summary>
/// <param name="Version">The agent version the MSI bundles (a SemVer; its folder is versions\&lt;Version&gt;).</param>
/// <param name="BelayExe">The win-x64 belay.exe (a path wixl reads).</param>
/// <param name="AgentExe">The win-x64 belay-agent.exe of <paramref name="Version"/>.</param>
public sealed record MsiValues(string Version, string BelayExe, string AgentExe);

/// <summary>
/// The MSI's WiX source (installers/windows/belay.wxs, embedded in belay-release): a template
/// filled with <see cref="ServiceTemplate"/> (values XML-escaped), then built with
/// <c>wixl -a x64</c> and corrected with <c>msibuild</c> (<see cref="Fixups"/>) for what wixl
/// cannot express. The UpgradeCode is fixed for the product; component GUIDs are derived from
/// it (the agent's from its version too, since its folder changes with the version), so that a
/// rebuild of the same version yields the same components.
/// </summary>
public static class MsiSource
{
    public const string FileName = "belay.wxs";

    /// <summary>Never changes: it is what makes every later Belay MSI an upgrade of every earlier one.</summary>
    public const string UpgradeCode = "6C0E3A53-3F57-4D8E-9B5E-2A4F3B1C9D70";

    public const string Manufacturer = "Belay";

    /// <summary>The service description; the same as <see cref="ServiceDefinition.Description"/>, which the custom action sets again.</summary>
    public const string ServiceDescription = "Belay keeper: runs, updates and rolls back the Belay agent";

    /// <summary>The custom action that receives TOKEN on its command line.</summary>
    public const string ConfigureAction = "BelayConfigure";

    /// <summary>The custom action that removes what the MSI did not install.</summary>
    public const string RemoveAction = "BelayRemove";

    /// <summary>The rollback action: undoes what <see cref="ConfigureAction"/> created when the install fails.</summary>
    public const string RollbackAction = "BelayRollback";

    /// <summary>The commit action: forgets that list once the install succeeded.</summary>
    public const string CommitAction = "BelayCommit";

    /// <summary>msidbCustomActionTypeHideTarget: Windows Installer does not log the action's command line.</summary>
    public const int HideTarget = 0x2000;

    /// <summary>Type 18 (an EXE installed by this package) + deferred (0x400) + no impersonation (0x800).</summary>
    public const int DeferredSystemExe = 18 | 0x400 | 0x800;

    /// <summary>msidbCustomActionTypeRollback, msidbCustomActionTypeCommit, msidbCustomActionTypeContinue (the exit code is ignored).</summary>
    public const int Rollback = 0x100, Commit = 0x200, IgnoreExitCode = 0x40;

    /// <summary>Sequence of RemoveExistingProducts: right after InstallInitialize (1500), WiX's afterInstallInitialize.</summary>
    public const int RemoveExistingProductsSequence = 1501;

    /// <summary>The file name the build gives the MSI: belay-&lt;version&gt;-x64.msi.</summary>
    public static string MsiFileName(string version) => $"belay-{version}-x64.msi";

    /// <summary>
    /// The MSI ProductVersion for a SemVer: major.minor.patch (major and minor at most 255, patch at
    /// most 65535, as Windows Installer requires). A prerelease or build suffix is dropped: Windows
    /// Installer compares only the three numbers, so 1.2.3-beta.1 and 1.2.3 are the same version to it.
    /// </summary>
    public static string ProductVersion(string version)
    {
        if (!SemVersion.TryParse(version, out var v, out var error))
        {
            throw new BelayException(ExitCodes.Usage, $"'{version}' is not a version: {error}");
        }
        if (v.Major > 255 || v.Minor > 255 || v.Patch > 65535)
        {
            throw new BelayException(ExitCodes.Usage,
                $"version {version} cannot be an MSI ProductVersion: the major and minor numbers must be at most 255 and the patch at most 65535");
        }
        return string.Create(CultureInfo.InvariantCulture, $"{v.Major}.{v.Minor}.{v.Patch}");
    }

    /// <summary>The WiX source for <paramref name="values"/> from <paramref name="template"/>.</summary>
    public static string Render(string template, MsiValues values)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(values);
        var productVersion = ProductVersion(values.Version);
        if (values.Version.Any(c => c is '\\' or '/' or ':' or '*' or '?' or '"' or '<' or '>' or '|'))
        {
            throw new BelayException(ExitCodes.Usage, $"version '{values.Version}' cannot be a folder name");
        }
        var fields = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ProductVersion"] = productVersion,
            ["Version"] = Xml(values.Version),
            ["Manufacturer"] = Manufacturer,
            ["UpgradeCode"] = UpgradeCode,
            ["Description"] = Xml(ServiceDescription),
            ["KeeperComponentGuid"] = DerivedGuid("component/keeper"),
            ["AgentComponentGuid"] = DerivedGuid("component/agent/" + values.Version),
            ["BelaySource"] = Xml(values.BelayExe),
            ["AgentSource"] = Xml(values.AgentExe),
        };
        return ServiceTemplate.Fill(template, fields, new HashSet<string>());
    }

    /// <summary>
    /// The SQL msibuild runs on the MSI wixl made (<c>msibuild belay.msi -q QUERY</c>, one query each):
    /// wixl ignores HideTarget on a CustomAction and Execute="rollback" or "commit" (it makes those
    /// immediate), always schedules MajorUpgrade's RemoveExistingProducts after InstallServices,
    /// where the old version's uninstall would stop and delete the service the new version has just registered,
    /// and ignores RemoveFolder's Directory (it gives the component's folder, BINDIR).
    /// </summary>
    public static IReadOnlyList<string> Fixups { get; } =
    [
        $"UPDATE `CustomAction` SET `Type` = {DeferredSystemExe | HideTarget} WHERE `Action` = '{ConfigureAction}'",
        $"UPDATE `CustomAction` SET `Type` = {DeferredSystemExe | Rollback | IgnoreExitCode} WHERE `Action` = '{RollbackAction}'",
        $"UPDATE `CustomAction` SET `Type` = {DeferredSystemExe | Commit | IgnoreExitCode} WHERE `Action` = '{CommitAction}'",
        $"UPDATE `InstallExecuteSequence` SET `Sequence` = {RemoveExistingProductsSequence} WHERE `Action` = 'RemoveExistingProducts'",
        "UPDATE `RemoveFile` SET `DirProperty` = 'VERSIONSDIR' WHERE `FileKey` = 'RemoveVersionsFolder'",
        "UPDATE `RemoveFile` SET `DirProperty` = 'INSTALLDIR' WHERE `FileKey` = 'RemoveInstallFolder'",
    ];

    /// <summary>
    /// Builds the MSI at <paramref name="output"/>: renders the source into a scratch folder beside it,
    /// runs <c>wixl -a x64</c> there, then <c>msibuild</c> with each of <see cref="Fixups"/>, and moves
    /// the result into place. Returns the rendered source (for a publisher to keep with the MSI).
    /// </summary>
    public static string Build(string template, MsiValues values, string output, IProcessRunner runner, string wixl = "wixl", string msibuild = "msibuild")
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(runner);
        foreach (var (what, path) in new[] { ("belay.exe", values.BelayExe), ("belay-agent.exe", values.AgentExe) })
        {
            if (!File.Exists(path))
            {
                throw new BelayException(ExitCodes.Usage, $"the win-x64 {what} is not at {path}");
            }
        }
        var full = Path.GetFullPath(output);
        var scratch = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        Directory.CreateDirectory(scratch);
        try
        {
            // wixl finds a File's Source only relative to the current directory (an absolute one fails an assertion).
            var source = Render(template, values with
            {
                BelayExe = Path.GetRelativePath(Environment.CurrentDirectory, values.BelayExe),
                AgentExe = Path.GetRelativePath(Environment.CurrentDirectory, values.AgentExe),
            });
            var wxs = Path.Combine(scratch, FileName);
            File.WriteAllText(wxs, source);
            var msi = Path.Combine(scratch, "belay.msi");
            Check(runner.Run([wixl, "-a", "x64", "-o", msi, wxs], TimeSpan.FromMinutes(5)), "wixl", "wixl");
            foreach (var query in Fixups)
            {
                Check(runner.Run([msibuild, msi, "-q", query]), "msibuild", "msitools");
            }
            File.Move(msi, full, overwrite: true);
            return source;
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    private static void Check(ProcessResult result, string tool, string package)
    {
        if (result.ExitCode != 0)
        {
            throw new BelayException($"{tool} failed (exit {result.ExitCode}; it comes with the Debian package {package}):\n{result.Output}");
        }
    }

    /// <summary>A stable GUID named by <paramref name="name"/> under the UpgradeCode (SHA-256 of the UpgradeCode and the name, as an RFC 9562 version-8 GUID).</summary>
    public static string DerivedGuid(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var ns = Guid.Parse(UpgradeCode).ToByteArray(bigEndian: true);
        var hash = SHA256.HashData([.. ns, .. Encoding.UTF8.GetBytes(name)]);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true).ToString("D").ToUpperInvariant();
    }

    private static string Xml(string value) =>
        value.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
            .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&quot;", StringComparison.Ordinal);
}
