using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Installers;

/// <summary>install.sh and install.ps1 pass --group and --group-identity (and their BELAY_* variables) on to belay install, checked first.</summary>
public sealed class InstallShGroupTests : IDisposable
{
    private readonly InstallShHost _host = new();

    public void Dispose() => _host.Dispose();

    [Fact]
    public void GroupAndIdentityReachBelayInstallByOptionAndByEnvironment()
    {
        var identity = Path.Combine(_host.Home, "group.key");
        File.WriteAllText(identity, "AGE-SECRET-KEY-1...\n");
        var byOptions = _host.Pipe(InstallShTests.Shell("dash"), ["--dry-run", "--user", "--group", "web-prod", "--group-identity", identity]);
        Assert.True(byOptions.ExitCode == 0, byOptions.ToString());
        Assert.Contains($"--scope user --root-key {File.ReadAllLines(_host.Workspace.RootPub)[1]} --group web-prod --group-identity {identity}", byOptions.StdOut, StringComparison.Ordinal);

        var byEnvironment = _host.Pipe(InstallShTests.Shell("busybox"), [], environment: new Dictionary<string, string?>
        {
            ["BELAY_DRY_RUN"] = "1", ["BELAY_USER"] = "1", ["BELAY_GROUP"] = "web-prod", ["BELAY_GROUP_IDENTITY"] = identity,
        });
        Assert.True(byEnvironment.ExitCode == 0, byEnvironment.ToString());
        Assert.Contains($"--group web-prod --group-identity {identity}", byEnvironment.StdOut, StringComparison.Ordinal);

        var without = _host.Pipe(InstallShTests.Shell("dash"), ["--dry-run", "--user"]);
        Assert.DoesNotContain("--group", without.StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--group", "Web", "--group 'Web': use lower-case letters")]
    [InlineData("--group", "-x", "--group needs a value (got '-x')")]
    [InlineData("--group", "web/prod", "--group 'web/prod'")]
    [InlineData("--group-identity", "/nonexistent/group.key", "--group-identity /nonexistent/group.key: no such file (make one with age-keygen -o FILE)")]
    public void ABadGroupOrAMissingIdentityStopsWithAMessage(string option, string value, string message)
    {
        var result = _host.Pipe(InstallShTests.Shell("dash"), ["--user", "--dry-run", option, value]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.StdErr, StringComparison.Ordinal);
    }
}

public sealed class InstallPs1GroupTests : IDisposable
{
    private readonly InstallPs1Host _host = new();

    public void Dispose() => _host.Dispose();

    [Fact]
    public void GroupAndIdentityReachBelayInstallAndABadGroupStops()
    {
        var identity = Path.Combine(_host.TempDir, "..", "group.key");
        identity = Path.GetFullPath(identity);
        File.WriteAllText(identity, "AGE-SECRET-KEY-1...\n");
        var result = _host.ScriptBlock($"-DryRun -Group web-prod -GroupIdentity {Pwsh.Quote(identity)}");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"--group web-prod --group-identity {identity} --service-manager windows", result.StdOut, StringComparison.Ordinal);

        var byEnvironment = _host.Iex(extra: new Dictionary<string, string?> { ["BELAY_DRY_RUN"] = "1", ["BELAY_GROUP"] = "web-prod" });
        Assert.Contains("--group web-prod", byEnvironment.StdOut, StringComparison.Ordinal);

        var bad = _host.ScriptBlock("-DryRun -Group Web");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("-Group 'Web': use lower-case letters", bad.StdErr + bad.StdOut, StringComparison.Ordinal);
        var missing = _host.ScriptBlock("-DryRun -GroupIdentity /nonexistent/group.key");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("no such file (make one with age-keygen -o FILE)", missing.StdErr + missing.StdOut, StringComparison.Ordinal);
        File.Delete(identity);
    }
}
