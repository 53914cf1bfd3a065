using Belay.TestSupport;

namespace Belay.EndToEnd.Tests;

/// <summary>`belay service print`: what install would write, rendered by the shipped binary (embedded templates).</summary>
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

    [Fact]
    public void AutoSaysWhichManagerItFoundAndWhy()
    {
        var result = BelayBinaries.Run(BelayBinaries.Belay, "service", "print", "--scope", "user");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("service manager: ", result.StdErr, StringComparison.Ordinal);
    }
}
