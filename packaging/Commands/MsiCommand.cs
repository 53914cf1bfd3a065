using System.CommandLine;
using System.Text;
using Belay.Core;
using Belay.Core.Publishing;
using Belay.Core.Services;

namespace Belay.Release.Commands;

/// <summary>
/// `belay-release msi`: the Windows installer, belay-&lt;version&gt;-x64.msi, from the win-x64
/// belay.exe and belay-agent.exe, with wixl and msibuild (msitools). See docs/install.md, "MSI".
/// </summary>
internal static class MsiCommand
{
    /// <summary>The resource name of installers/windows/belay.wxs (see Belay.Release.csproj).</summary>
    public const string WxsResource = "Belay.Release.Installers.belay.wxs";

    public static Command Create()
    {
        var version = new Option<string>("--version") { Description = "The agent version the MSI carries (also its ProductVersion, without a prerelease suffix).", Required = true };
        var belay = new Option<FileInfo>("--belay") { Description = "The win-x64 belay.exe.", Required = true };
        var agent = new Option<FileInfo>("--agent") { Description = "The win-x64 belay-agent.exe of that version.", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "Where belay-VERSION-x64.msi (and the rendered belay-VERSION-x64.wxs) go.", Required = true };
        var wixl = new Option<string>("--wixl") { Description = "The wixl executable.", DefaultValueFactory = _ => "wixl" };
        var msibuild = new Option<string>("--msibuild") { Description = "The msibuild executable.", DefaultValueFactory = _ => "msibuild" };
        var command = new Command("msi", "Build the Windows installer (MSI) with wixl: belay.exe and the agent under Program Files, the keeper service, FEED/CHANNEL/TOKEN properties.")
        {
            version, belay, agent, output, wixl, msibuild,
        };
        command.SetAction(result =>
        {
            var v = result.GetRequiredValue(version);
            var dir = result.GetRequiredValue(output).FullName;
            Directory.CreateDirectory(dir);
            var msi = Path.Combine(dir, MsiSource.MsiFileName(v));
            var values = new MsiValues(v, result.GetRequiredValue(belay).FullName, result.GetRequiredValue(agent).FullName);
            var source = MsiSource.Build(LoadTemplate(), values, msi, SystemProcessRunner.Instance, result.GetRequiredValue(wixl), result.GetRequiredValue(msibuild));
            File.WriteAllText(Path.ChangeExtension(msi, ".wxs"), source);
            Console.WriteLine($"wrote {msi} ({new FileInfo(msi).Length} bytes): Belay {v} (ProductVersion {MsiSource.ProductVersion(v)}, UpgradeCode {{{MsiSource.UpgradeCode}}})");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string LoadTemplate()
    {
        using var stream = typeof(MsiCommand).Assembly.GetManifestResourceStream(WxsResource)
            ?? throw new InvalidOperationException($"the template {WxsResource} is not embedded in belay-release; see packaging/Belay.Release.csproj");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
