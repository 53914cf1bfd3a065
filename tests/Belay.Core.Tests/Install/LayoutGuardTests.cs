using Belay.Core.Install;
using Belay.TestSupport;

namespace Belay.Core.Tests.Install;

/// <summary>A link planted in a folder Belay writes into is refused before anything is written; the top folders may be links.</summary>
public sealed class LayoutGuardTests
{
    [Theory]
    [InlineData("bin")]
    [InlineData("versions")]
    [InlineData("etc")]
    [InlineData("var")]
    [InlineData("var/downloads")]
    [InlineData("var/programs")]
    [InlineData("log")]
    [InlineData("log/programs")]
    [InlineData("versions/1.0.0")]
    public void ALinkInAFolderBelayWritesIntoIsRefusedWithWhatToRemove(string planted)
    {
        using var dir = new TempDir();
        var prefix = dir.Combine("prefix");
        var elsewhere = dir.Combine("elsewhere");
        Directory.CreateDirectory(elsewhere);
        var layout = InstallLayout.For(InstallScope.User, prefix);
        var link = Path.Combine(prefix, planted);
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        Directory.CreateSymbolicLink(link, elsewhere);

        var e = Assert.Throws<BelayException>(() => LayoutGuard.Check(layout));
        Assert.Equal(ExitCodes.Error, e.ExitCode);
        Assert.Contains($"{link} is a symbolic link to {elsewhere}", e.Message, StringComparison.Ordinal);
        Assert.Contains($"rm {link}", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(elsewhere));
    }

    [Fact]
    public void AFileInAVersionFolderThatIsALinkIsRefused()
    {
        using var dir = new TempDir();
        var layout = InstallLayout.For(InstallScope.User, dir.Combine("prefix"));
        Directory.CreateDirectory(layout.VersionDir("1.0.0"));
        File.WriteAllText(dir.Combine("evil"), "#!/bin/sh\n");
        File.CreateSymbolicLink(layout.AgentExe("1.0.0"), dir.Combine("evil"));
        var e = Assert.Throws<BelayException>(() => LayoutGuard.Check(layout));
        Assert.Contains(layout.AgentExe("1.0.0"), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ADanglingLinkAndAFileWhereAFolderBelongsAreRefused()
    {
        using var dir = new TempDir();
        var layout = InstallLayout.For(InstallScope.User, dir.Combine("prefix"));
        Directory.CreateDirectory(layout.StateDir);
        File.CreateSymbolicLink(layout.DownloadsDir, dir.Combine("nowhere"));
        Directory.CreateDirectory(layout.BinRoot);
        File.WriteAllText(Path.GetDirectoryName(layout.BelayExe)!, "not a folder");
        var problems = LayoutGuard.Problems(layout);
        Assert.Contains(problems, p => p.Contains($"{layout.DownloadsDir} is a symbolic link", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("is a file where Belay keeps a folder", StringComparison.Ordinal));
    }

    [Fact]
    public void ThePrefixItselfAndTheStandardTopFoldersMayBeLinks()
    {
        using var dir = new TempDir();
        var real = dir.Combine("real");
        Directory.CreateDirectory(real);
        var prefix = dir.Combine("prefix");
        Directory.CreateSymbolicLink(prefix, real);
        Assert.Empty(LayoutGuard.Problems(InstallLayout.For(InstallScope.User, prefix)));

        // XDG layout: data, config and state are top folders; the log folder inside state is checked.
        var home = dir.Combine("home");
        var env = new Dictionary<string, string?> { ["HOME"] = home };
        var xdg = InstallLayout.For(InstallScope.User, null, k => env.GetValueOrDefault(k));
        Assert.DoesNotContain(Path.GetFullPath(xdg.ConfigDir), LayoutGuard.Folders(xdg));
        Assert.DoesNotContain(Path.GetFullPath(xdg.StateDir), LayoutGuard.Folders(xdg));
        Assert.Contains(Path.GetFullPath(xdg.LogDir), LayoutGuard.Folders(xdg));
        Assert.Contains(Path.GetFullPath(xdg.DownloadsDir), LayoutGuard.Folders(xdg));
    }
}
