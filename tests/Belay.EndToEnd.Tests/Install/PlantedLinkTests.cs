using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>
/// A symbolic link planted in a folder Belay writes into (bin, versions, var, var/downloads, log) makes
/// install refuse before it writes anything, exit 1, naming the link and what to remove; and the agent
/// refuses to stage an update through one planted after the install.
/// </summary>
public sealed class PlantedLinkTests : IDisposable
{
    private readonly InstalledHost _host = new();

    public void Dispose() => _host.Dispose();

    [Theory]
    [InlineData("bin")]
    [InlineData("versions")]
    [InlineData("var")]
    [InlineData("var/downloads")]
    [InlineData("log")]
    public void InstallRefusesALinkInThePrefixAndWritesNothing(string planted)
    {
        _host.PublishAgent("1.0.0");
        var elsewhere = Path.Combine(_host.Workspace.Root, "elsewhere");
        Directory.CreateDirectory(elsewhere);
        var link = Path.Combine(_host.Prefix, planted);
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        Directory.CreateSymbolicLink(link, elsewhere);
        var before = Directory.EnumerateFileSystemEntries(_host.Prefix, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();

        var result = _host.Install();
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains($"{link} is a symbolic link to {elsewhere}", result.StdErr, StringComparison.Ordinal);
        Assert.Contains($"rm {link}", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.StdErr, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(elsewhere));
        Assert.Equal(before, Directory.EnumerateFileSystemEntries(_host.Prefix, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList());
        Assert.NotEqual(0, ExternalTool.Run("pgrep", ["-f", _host.Prefix]).ExitCode);
    }

    [Fact]
    public void TheAgentAndBelayUpdateRefuseToStageThroughADownloadsLinkPlantedLater()
    {
        _host.PublishAgent("1.0.0");
        var install = _host.Install();
        Assert.True(install.ExitCode == 0, install + _host.ReadLog());
        var downloads = Path.Combine(_host.Prefix, "var", "downloads");
        var elsewhere = Path.Combine(_host.Workspace.Root, "elsewhere");
        Directory.CreateDirectory(elsewhere);
        if (Directory.Exists(downloads))
        {
            Directory.Delete(downloads, recursive: true);
        }
        Directory.CreateSymbolicLink(downloads, elsewhere);

        _host.PublishAgent("1.1.0");
        var refused = _host.WaitFor(s => s.GetProperty("lastCheck").GetProperty("error").GetString()?.Contains("symbolic link", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(30), "refusing the link");
        Assert.Contains(downloads, refused.GetProperty("lastCheck").GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("1.0.0", InstalledHost.Version(refused));
        Assert.False(Directory.Exists(Path.Combine(_host.Prefix, "versions", "1.1.0")));

        var update = InstalledHost.Belay("update", "--prefix", _host.Prefix, "--scope", "user", "--wait", "20s");
        Assert.Equal(1, update.ExitCode);
        Assert.Contains($"{downloads} is a symbolic link", update.StdErr, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(elsewhere));
    }
}
