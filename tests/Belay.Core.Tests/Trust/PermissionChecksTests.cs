using Belay.Core.Install;
using Belay.Core.IO;
using Belay.TestSupport;

namespace Belay.Core.Tests.Trust;

/// <summary>What `belay doctor` and `belay install` check on the files of an installation.</summary>
public sealed class PermissionChecksTests : IDisposable
{
    private const UnixFileMode Dir755 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead |
        UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private readonly TempDir _dir = new();
    private readonly InstallLayout _layout;

    public PermissionChecksTests()
    {
        _layout = InstallLayout.For(InstallScope.User, _dir.Combine("prefix"));
        foreach (var d in new[] { _layout.BinRoot, Path.GetDirectoryName(_layout.BelayExe)!, _layout.VersionsDir, _layout.VersionDir("1.0.0"), _layout.ConfigDir })
        {
            Directory.CreateDirectory(d);
            File.SetUnixFileMode(d, Dir755);
        }
        Directory.CreateDirectory(_layout.StateDir);
        File.SetUnixFileMode(_layout.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        foreach (var exe in new[] { _layout.BelayExe, _layout.AgentExe("1.0.0") })
        {
            File.WriteAllText(exe, "#!/bin/sh\n");
            File.SetUnixFileMode(exe, Dir755);
        }
        AtomicFile.WriteAllText(_layout.ConfigFile, "{}", AtomicFile.OwnerOnly);
    }

    public void Dispose() => _dir.Dispose();

    private IReadOnlyList<Finding> Check() => PermissionChecks.Check(_layout, InstallScope.User, owner: FileOwner.EffectiveUid);

    [Fact]
    public void LStatReadsTheOwnerAndModeThroughTheRuntimeShim()
    {
        var s = FileOwner.LStat(_layout.AgentExe("1.0.0"));
        Assert.NotNull(s);
        Assert.Equal(FileOwner.EffectiveUid, s.Value.Uid);
        Assert.Equal(0x8000, s.Value.Mode & 0xF000);
        Assert.Equal((int)File.GetUnixFileMode(_layout.AgentExe("1.0.0")), s.Value.Mode & 0xFFF);
        Assert.Null(FileOwner.LStat(_dir.Combine("missing")));
    }

    [Fact]
    public void AProperInstallationHasNoProblem()
    {
        var findings = Check();
        Assert.All(findings, f => Assert.True(f.Ok, f.Detail));
        Assert.Contains(findings, f => f.Check == "binaries" && f.Detail.StartsWith(_layout.AgentExe("1.0.0"), StringComparison.Ordinal));
    }

    [Fact]
    public void ABinaryWritableByGroupOrOthersIsAProblemWithItsFix()
    {
        File.SetUnixFileMode(_layout.AgentExe("1.0.0"), Dir755 | UnixFileMode.OtherWrite);
        var bad = Assert.Single(Check(), f => !f.Ok);
        Assert.Contains("writable by others", bad.Detail, StringComparison.Ordinal);
        Assert.Equal($"chown {FileOwner.EffectiveUid switch { 0 => "root", var u => u.ToString(System.Globalization.CultureInfo.InvariantCulture) }} {_layout.AgentExe("1.0.0")} && chmod go-w {_layout.AgentExe("1.0.0")}", bad.Fix);
    }

    [Fact]
    public void ABinaryOwnedBySomebodyElseIsAProblem()
    {
        var bad = PermissionChecks.Check(_layout, InstallScope.User, owner: FileOwner.EffectiveUid + 1).Where(f => !f.Ok && f.Check == "binaries").ToList();
        Assert.NotEmpty(bad);
        Assert.All(bad, f => Assert.Contains("owned by uid", f.Detail, StringComparison.Ordinal));
    }

    [Fact]
    public void AConfigReadableByOthersAndAnOpenStateFolderAreProblems()
    {
        File.SetUnixFileMode(_layout.ConfigFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        File.SetUnixFileMode(_layout.StateDir, Dir755);
        var bad = Check().Where(f => !f.Ok).ToList();
        Assert.Contains(bad, f => f.Check == "config" && f.Fix == $"chown {Owner} {_layout.ConfigFile} && chmod 600 {_layout.ConfigFile}");
        Assert.Contains(bad, f => f.Check == "state" && f.Fix == $"chown {Owner} {_layout.StateDir} && chmod 700 {_layout.StateDir}");
    }

    [Fact]
    public void AGroupIdentityReadableByOthersIsAProblemAndAnOwnerOnlyOneIsFine()
    {
        File.WriteAllText(_layout.GroupIdentityFile, "AGE-SECRET-KEY-1…\n");
        File.SetUnixFileMode(_layout.GroupIdentityFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Contains(Check(), f => f.Ok && f.Detail.StartsWith(_layout.GroupIdentityFile, StringComparison.Ordinal));
        File.SetUnixFileMode(_layout.GroupIdentityFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        var bad = Assert.Single(Check(), f => !f.Ok);
        Assert.Contains("it is the key to the group's secrets", bad.Detail, StringComparison.Ordinal);
        Assert.Equal($"chown {Owner} {_layout.GroupIdentityFile} && chmod 600 {_layout.GroupIdentityFile}", bad.Fix);
    }

    [Fact]
    public void ASymbolicLinkInPlaceOfTheBootstrapperIsAProblem()
    {
        File.Delete(_layout.BelayExe);
        File.CreateSymbolicLink(_layout.BelayExe, "/bin/sh");
        var bad = Assert.Single(Check(), f => !f.Ok);
        Assert.Contains("symbolic link", bad.Detail, StringComparison.Ordinal);
    }

    private static string Owner => FileOwner.EffectiveUid == 0 ? "root" : FileOwner.EffectiveUid.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
