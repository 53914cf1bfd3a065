using Belay.Core.Install;
using Belay.Core.IO;
using Belay.TestSupport;

namespace Belay.Core.Tests.IO;

/// <summary>The Windows ACL of a secret file, checked through a fake advapi32 (the real one runs under Wine: WineInstallTests).</summary>
public sealed class OwnerOnlyAclTests
{
    private const string Path = @"C:\ProgramData\Belay\etc\.config.json.0a1b2c.tmp";

    [Fact]
    public void ASystemInstallAllowsSystemAndAdministratorsOnlyWithoutInheritance() =>
        Assert.Equal("D:P(A;;FA;;;SY)(A;;FA;;;BA)", OwnerOnlyAcl.Sddl(OwnerOnlyScope.System));

    [Fact]
    public void AUserInstallAllowsSystemAndThatUserInsteadOfAdministrators() =>
        Assert.Equal("D:P(A;;FA;;;SY)(A;;FA;;;S-1-5-21-1-2-3-1001)", OwnerOnlyAcl.Sddl(OwnerOnlyScope.User, "S-1-5-21-1-2-3-1001"));

    [Fact]
    public void ApplyBuildsTheDescriptorSetsItOnTheFileAndFreesIt()
    {
        var api = new FakeFileSecurityApi();
        new OwnerOnlyAcl(api).Apply(Path, OwnerOnlyScope.System);
        Assert.Equal(
        [
            "ConvertStringSecurityDescriptorToSecurityDescriptorW D:P(A;;FA;;;SY)(A;;FA;;;BA)",
            $"SetFileSecurityW {Path}",
            "LocalFree",
        ], api.Calls);
        Assert.Equal(0, api.Outstanding);
    }

    [Fact]
    public void ApplyForAUserInstallAsksWhoTheUserIs()
    {
        var api = new FakeFileSecurityApi();
        new OwnerOnlyAcl(api).Apply(Path, OwnerOnlyScope.User);
        Assert.Equal(
        [
            "CurrentUserSid",
            $"ConvertStringSecurityDescriptorToSecurityDescriptorW D:P(A;;FA;;;SY)(A;;FA;;;{api.UserSid})",
            $"SetFileSecurityW {Path}",
            "LocalFree",
        ], api.Calls);
    }

    [Fact]
    public void AFailedSetIsAnErrorAndStillFreesTheDescriptor()
    {
        var api = new FakeFileSecurityApi { FailSetWith = 5 }; // ERROR_ACCESS_DENIED
        var e = Assert.Throws<IOException>(() => new OwnerOnlyAcl(api).Apply(Path, OwnerOnlyScope.System));
        Assert.Contains("cannot restrict", e.Message, StringComparison.Ordinal);
        Assert.Equal("LocalFree", api.Calls[^1]);
        Assert.Equal(0, api.Outstanding);
    }

    [Fact]
    public void WriteSecretProtectsTheTemporaryFileBeforeWritingAndTheRenameKeepsIt()
    {
        using var dir = new TempDir();
        var target = dir.Combine("config.json");
        var api = new FakeFileSecurityApi();
        var acl = new OwnerOnlyAcl(api);
        AtomicFile.WriteSecret(target, "{\"token\":\"t\"}"u8, OwnerOnlyScope.System, acl);
        var temp = Assert.Single(api.Dacls.Keys);
        Assert.NotEqual(target, temp);
        Assert.Equal(System.IO.Path.GetDirectoryName(target), System.IO.Path.GetDirectoryName(temp));
        Assert.Equal(0, api.SizeWhenSet[temp]); // protected while still empty
        Assert.Equal("{\"token\":\"t\"}", File.ReadAllText(target));
        Assert.False(File.Exists(temp));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(target));
    }

    [Theory]
    [InlineData("D:P(A;;FA;;;SY)(A;;FA;;;BA)", null)]
    [InlineData("D:P(A;;FA;;;BA)(A;;FA;;;SY)", null)]
    [InlineData("D:PAI(A;;FA;;;SY)(A;;FA;;;BA)", null)]
    [InlineData("D:AI(A;;FA;;;SY)(A;;FA;;;BA)", "not protected")]
    [InlineData("D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;BU)", "it also allows A;;FR;;;BU")]
    [InlineData("D:P(A;;FA;;;SY)", "it lacks A;;FA;;;BA")]
    [InlineData("D:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)", "also allows")]
    public void TheCheckComparesTheEntriesAndTheProtection(string actual, string? problem)
    {
        var result = OwnerOnlyAcl.Compare(actual, OwnerOnlyAcl.Sddl(OwnerOnlyScope.System));
        if (problem is null)
        {
            Assert.Null(result);
        }
        else
        {
            Assert.NotNull(result);
            Assert.Contains(problem, result, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void DoctorOnWindowsPassesTheOwnerOnlyConfigAndFailsOneThatInherits()
    {
        using var dir = new TempDir();
        var layout = new InstallLayout(dir.Combine("bin"), dir.Combine("etc"), dir.Combine("state"), dir.Combine("log"));
        Directory.CreateDirectory(layout.ConfigDir);
        File.WriteAllText(layout.ConfigFile, "{}");
        var api = new FakeFileSecurityApi();
        var acl = new OwnerOnlyAcl(api);
        acl.Apply(layout.ConfigFile, OwnerOnlyScope.User);
        var ok = Assert.Single(WindowsPermissionChecks.Check(layout, OwnerOnlyScope.User, acl));
        Assert.True(ok.Ok, ok.Detail);

        // The same file checked as a system install's: the user's entry is not Administrators'.
        var wrongScope = Assert.Single(WindowsPermissionChecks.Check(layout, OwnerOnlyScope.System, acl));
        Assert.False(wrongScope.Ok);

        api.Dacls[layout.ConfigFile] = "D:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)";
        var inherited = Assert.Single(WindowsPermissionChecks.Check(layout, OwnerOnlyScope.System, acl));
        Assert.False(inherited.Ok);
        Assert.Contains("not protected", inherited.Detail, StringComparison.Ordinal);
        Assert.Contains("icacls", inherited.Fix, StringComparison.Ordinal);
    }
}
