using Belay.TestSupport;

namespace Belay.EndToEnd.Tests;

/// <summary>
/// `belay service print`: what install would write, rendered by the shipped binary (embedded
/// templates). Standard output is the file and nothing else, so `belay service print > file`
/// gives a file the platform's validator accepts; the destination goes to standard error.
/// </summary>
public sealed class ServicePrintTests
{
    [Theory]
    [InlineData("systemd", "ExecStart=")]
    [InlineData("launchd", "<key>ProgramArguments</key>")]
    [InlineData("smf", "service_bundle")]
    public void EachBackendPrintsItsDefinitionForThisInstallation(string manager, string expected)
    {
        using var dir = new TempDir();
        var scope = manager == "smf" ? "system" : "user";
        var result = BelayBinaries.Run(BelayBinaries.Belay, "service", "print", "--service-manager", manager, "--scope", scope, "--prefix", dir.Path);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains(expected, result.StdOut, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(dir.Path, "bin", "belay"), result.StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("smf", "/var/svc/manifest/application/belay.xml")]
    [InlineData("launchd", "com.belay.agent.plist")]
    public void StandardOutputIsExactlyAValidFileAndTheDestinationGoesToStandardError(string manager, string destination)
    {
        using var dir = new TempDir();
        var result = BelayBinaries.Run(BelayBinaries.Belay, "service", "print", "--service-manager", manager, "--scope", "system", "--prefix", dir.Path);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.StartsWith("<?xml ", result.StdOut, StringComparison.Ordinal);
        Assert.Contains(destination, result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain(destination, result.StdOut.Split('\n')[0], StringComparison.Ordinal);
        var valid = manager == "smf" ? XmlValidation.SmfManifest(result.StdOut) : XmlValidation.Plist(result.StdOut);
        Assert.True(valid.ExitCode == 0 && valid.StdErr.Length == 0, valid + "\n--- printed\n" + result.StdOut);
    }

    [Fact]
    public void TheSystemdUnitOnStandardOutputStartsWithTheTemplatesFirstLine()
    {
        using var dir = new TempDir();
        var result = BelayBinaries.Run(BelayBinaries.Belay, "service", "print", "--service-manager", "systemd", "--scope", "user", "--prefix", dir.Path);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.StartsWith("# The Belay keeper", result.StdOut, StringComparison.Ordinal); // the template's own first line
        Assert.Contains("\n[Unit]\n", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("belay.service", result.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void AutoSaysWhichManagerItFoundAndWhy()
    {
        var result = BelayBinaries.Run(BelayBinaries.Belay, "service", "print", "--scope", "user");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("service manager: ", result.StdErr, StringComparison.Ordinal);
    }
}
