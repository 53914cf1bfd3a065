using System.Text;
using Belay.Core.Install;
using Belay.Core.Update;
using Belay.TestSupport;

namespace Belay.Core.Tests.Update;

/// <summary>A damaged state.json is rebuilt from what survives: its readable fields, agent.json's version, the installed versions.</summary>
public sealed class InstallStateRepairTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void ATruncatedFileKeepsNothingAndTheAgentsLastVersionIsCurrent()
    {
        var repair = InstallStateRepair.Rebuild("{ \"schema\": 1, \"cur"u8, "1.1.0", ["1.0.0", "1.1.0", "1.2.0"], Now);
        Assert.Equal("1.1.0", repair.State.Current);
        Assert.Null(repair.State.Previous);
        Assert.Empty(repair.State.Bad);
        Assert.Null(repair.State.Trial);
        Assert.Contains(repair.Notes, n => n.Contains("agent.json", StringComparison.Ordinal));
        Assert.Null(InstallStateStore.Validate(repair.State));
    }

    [Fact]
    public void TheReadableFieldsOfTheDamagedFileAreKept()
    {
        var damaged = """{ "schema": 1, "current": "1.1.0", "previous": "1.0.0", "bad": ["1.2.0", "junk", 5], "trial": { "version": null } }"""u8;
        var repair = InstallStateRepair.Rebuild(damaged, "1.2.0", ["1.0.0", "1.1.0", "1.2.0"], Now);
        Assert.Equal("1.1.0", repair.State.Current);
        Assert.Equal("1.0.0", repair.State.Previous);
        Assert.Equal(["1.2.0"], repair.State.Bad);
        Assert.Null(repair.State.Trial);
    }

    [Fact]
    public void WithoutAnyHintTheNewestInstalledVersionNotBadIsCurrent()
    {
        var repair = InstallStateRepair.Rebuild("""{ "bad": ["1.2.0"] }"""u8, null, ["1.0.0", "1.2.0", "1.1.0", "not-a-version"], Now);
        Assert.Equal("1.1.0", repair.State.Current);
        Assert.Equal(["1.2.0"], repair.State.Bad);
    }

    [Fact]
    public void ACurrentThatIsNotInstalledIsNotKept()
    {
        var repair = InstallStateRepair.Rebuild("""{ "current": "9.9.9" }"""u8, null, ["1.0.0"], Now);
        Assert.Equal("1.0.0", repair.State.Current);
    }

    [Fact]
    public void NothingInstalledIsAnErrorThatSaysToInstall()
    {
        var e = Assert.Throws<BelayException>(() => InstallStateRepair.Rebuild([], null, [], Now));
        Assert.Contains("belay install", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheRepairWritesAStateThatLoadsAndKeepsTheDamagedFile()
    {
        using var dir = new TempDir();
        var layout = new InstallLayout(dir.Path, dir.Combine("etc"), dir.Combine("var"), dir.Combine("log"));
        Directory.CreateDirectory(layout.StateDir);
        foreach (var v in (string[])["1.0.0", "1.1.0"])
        {
            Directory.CreateDirectory(layout.VersionDir(v));
            File.WriteAllText(layout.AgentExe(v), "#!/bin/sh\n");
        }
        File.WriteAllBytes(layout.StateFile, new byte[64]);
        new AgentStatus { Version = "1.0.0" }.Save(layout.AgentStatusFile);
        File.WriteAllText(layout.HostIdFile, HostId.New() + "\n");

        var check = Assert.Single(InstallFileChecks.Check(layout, new FakeClock(Now)), c => c.Finding.Detail.Contains("state.json", StringComparison.Ordinal));
        Assert.False(check.Finding.Ok);
        Assert.Contains("NUL bytes", check.Finding.Detail, StringComparison.Ordinal);
        var said = check.Repair!();
        Assert.Contains("current 1.0.0", said, StringComparison.Ordinal);
        Assert.Equal("1.0.0", InstallStateStore.Load(layout.StateFile).Current);
        Assert.Equal(new byte[64], File.ReadAllBytes(layout.StateFile + ".damaged"));
        Assert.DoesNotContain(InstallFileChecks.Check(layout), c => !c.Finding.Ok);
    }
}
