using Belay.Core.IO;
using Belay.Core.Update;
using Belay.TestSupport;

namespace Belay.Core.Tests.Crash;

/// <summary>
/// A power loss at every numbered crash point (<see cref="CrashPoint"/>) of install, update,
/// switch, trial, commit and rollback, each time the life of a host (<see cref="CrashScenario"/>)
/// reaches it. After the crash the disk keeps only what was flushed; then the host restarts
/// and the invariant must hold: state.json parses and names a version whose folder holds
/// the signed archive's files byte for byte, the keeper starts a verified version and
/// settles, and the agent can stage again. Each step must also have kept its promise: what
/// it wrote before reaching its point survives the power loss.
/// </summary>
public sealed class CrashPointTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Every time the scenario reaches a crash point, in order: (point, its occurrence, what is going on).</summary>
    private static readonly (CrashPoint Point, int Occurrence, string Step)[] Table =
    [
        (CrashPoint.StageDownloaded, 1, "install 1.0.0"),
        (CrashPoint.StageExtracted, 1, "install 1.0.0"),
        (CrashPoint.StageRenamed, 1, "install 1.0.0"),
        (CrashPoint.InstallBootstrapperCopied, 1, "install 1.0.0"),
        (CrashPoint.InstallHostIdWritten, 1, "install 1.0.0"),
        (CrashPoint.InstallAgentStatusWritten, 1, "install 1.0.0"),
        (CrashPoint.InstallConfigWritten, 1, "install 1.0.0"),
        (CrashPoint.InstallStateWritten, 1, "install 1.0.0"),
        (CrashPoint.StageDownloaded, 2, "the agent stages 1.1.0"),
        (CrashPoint.StageExtracted, 2, "the agent stages 1.1.0"),
        (CrashPoint.StageRenamed, 2, "the agent stages 1.1.0"),
        (CrashPoint.SwitchPersisted, 1, "switch to 1.1.0"),
        (CrashPoint.TrialTryCounted, 1, "1.1.0 exits; try 2"),
        (CrashPoint.CommitPersisted, 1, "1.1.0 ready: commit"),
        (CrashPoint.StageDownloaded, 3, "the agent stages 1.2.0"),
        (CrashPoint.StageExtracted, 3, "the agent stages 1.2.0"),
        (CrashPoint.StageRenamed, 3, "the agent stages 1.2.0"),
        (CrashPoint.SwitchPersisted, 2, "switch to 1.2.0"),
        (CrashPoint.TrialTryCounted, 2, "1.2.0 exits; try 2"),
        (CrashPoint.TrialTryCounted, 3, "1.2.0 exits; try 3"),
        (CrashPoint.TrialRolledBack, 1, "1.2.0 out of tries: back to 1.1.0, 1.2.0 bad"),
        (CrashPoint.OperatorRollbackPersisted, 1, "belay rollback: back to 1.0.0"),
        (CrashPoint.StageDownloaded, 4, "install --version 1.3.0, keeper stopped"),
        (CrashPoint.StageExtracted, 4, "install --version 1.3.0, keeper stopped"),
        (CrashPoint.StageRenamed, 4, "install --version 1.3.0, keeper stopped"),
        (CrashPoint.ReinstallTrialPersisted, 1, "install --version 1.3.0, keeper stopped"),
        (CrashPoint.TrialTryCounted, 4, "the keeper boots: try 1 of 1.3.0"),
        (CrashPoint.CommitPersisted, 2, "1.3.0 ready: commit"),
    ];

    public static TheoryData<string> Cases => new(Table.Select(Name));

    private static string Name((CrashPoint Point, int Occurrence, string Step) c) => PowerLoss.Name(c);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task APowerLossAtACrashPointLeavesAStateThatParsesAndAVerifiedVersionToRun(string name)
    {
        var (point, occurrence, _) = Table.Single(c => Name(c) == name);
        using var scenario = new CrashScenario();
        await PowerLoss.AtAsync(scenario, point, occurrence, name, Ct);
        var settled = await scenario.RestartAsync(Ct);
        TestContext.Current.TestOutputHelper?.WriteLine($"crash at {name}: settled on {settled.Current}, bad [{string.Join(", ", settled.Bad)}]");
    }

    [Fact]
    public async Task TheTableListsEveryCrashPointAndEveryTimeTheScenarioReachesOne()
    {
        using var scenario = new CrashScenario();
        var (reached, disk) = await PowerLoss.WithoutACrashAsync(scenario, Ct);
        Assert.Equal(Table.Select(c => (c.Point, c.Occurrence)), reached);
        // The points of an app's deploy are reached by DeployCrashPointTests' scenario.
        Assert.Empty(Enum.GetValues<CrashPoint>().Except(disk.Points).Except(DeployCrashPointTests.DeployPoints));
        Assert.Equal(Enum.GetValues<CrashPoint>().Length, Enum.GetValues<CrashPoint>().Select(p => (int)p).Distinct().Count());
    }

    [Fact]
    public async Task WithoutACrashTheScenarioEndsOnTheLastVersionAndAPowerLossAfterwardsLosesNothing()
    {
        using var scenario = new CrashScenario();
        var (_, disk) = await PowerLoss.WithoutACrashAsync(scenario, Ct);
        var before = InstallStateStore.Load(scenario.Layout.StateFile);
        disk.PowerLoss();
        var after = InstallStateStore.Load(scenario.Layout.StateFile);
        Assert.Equal(InstallStateStore.Serialize(before), InstallStateStore.Serialize(after));
        Assert.Equal("1.3.0", after.Current);
        Assert.Equal("1.0.0", after.Previous);
        Assert.Equal(["1.2.0", "1.1.0"], after.Bad);
        foreach (var version in CrashScenario.Versions)
        {
            scenario.AssertVerified(version);
        }
    }

    [Fact]
    public async Task TheCrashingDiskDropsAFileThatWasWrittenButNotFlushed()
    {
        using var dir = new TempDir();
        var disk = new CrashingFileSystem(dir.Path);
        using (Durability.Observe(disk))
        {
            AtomicFile.WriteAllText(dir.Combine("kept"), "flushed\n");
            Durability.CreateDirectory(dir.Combine("lost-folder"));
            await using (var stream = AtomicFile.CreateNew(dir.Combine("lost-folder", "x")))
            {
                stream.Write("data"u8);
                AtomicFile.FlushToDisk(stream);
            }
            await using (var stream = AtomicFile.CreateNew(dir.Combine("empty")))
            {
                stream.Write("never flushed"u8);
            }
            AtomicFile.FlushDirectory(dir.Path);
        }
        disk.PowerLoss();
        Assert.Equal("flushed\n", File.ReadAllText(dir.Combine("kept")));
        Assert.True(Directory.Exists(dir.Combine("lost-folder")));
        Assert.False(File.Exists(dir.Combine("lost-folder", "x"))); // its folder was never flushed
        Assert.Equal(0, new FileInfo(dir.Combine("empty")).Length);
    }
}
