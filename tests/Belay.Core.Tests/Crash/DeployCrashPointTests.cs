using Belay.Core.IO;
using Belay.TestSupport;

namespace Belay.Core.Tests.Crash;

/// <summary>
/// A power loss at every numbered crash point of an app's deploy (<see cref="DeployPoints"/>),
/// each time the life of an app (<see cref="DeployCrashScenario"/>) reaches it: install,
/// update, a failed update restored, stop, removal. After the crash the disk keeps only what
/// was flushed; then a new agent starts and the invariant must hold: the journal parses, the
/// release it names holds the signed archive's files byte for byte (no partial release folder
/// anywhere), the app runs that release when it should (never neither), and the app converges
/// again. Each step must also have kept its promise: what it wrote before its point survives.
/// </summary>
public sealed class DeployCrashPointTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static readonly CrashPoint[] DeployPoints =
    [
        CrashPoint.DeployDesiredRecorded, CrashPoint.DeployStepJournaled, CrashPoint.DeployExtracted,
        CrashPoint.DeployUnpacked, CrashPoint.DeployCommitted, CrashPoint.DeployFailed,
    ];

    /// <summary>Every time the scenario reaches a crash point, in order: (point, its occurrence, what is going on).</summary>
    private static readonly (CrashPoint Point, int Occurrence, string Step)[] Table = BuildTable();

    private static (CrashPoint, int, string)[] BuildTable()
    {
        var rows = new List<(CrashPoint, int, string)>();
        var counts = new Dictionary<CrashPoint, int>();
        void Add(string step, params CrashPoint[] points)
        {
            foreach (var point in points)
            {
                counts[point] = counts.GetValueOrDefault(point) + 1;
                rows.Add((point, counts[point], step));
            }
        }
        const CrashPoint D = CrashPoint.DeployDesiredRecorded, J = CrashPoint.DeployStepJournaled, X = CrashPoint.DeployExtracted,
            U = CrashPoint.DeployUnpacked, C = CrashPoint.DeployCommitted, F = CrashPoint.DeployFailed;
        Add("install 1.0.0", D, J, J, X, J, J, U, J, J, J, J, J, C);
        Add("update to 1.1.0", D, J, J, X, J, J, U, J, J, J, J, J, J, C);
        Add("1.2.0 fails at post_start: restore 1.1.0", D, J, J, X, J, J, U, J, J, J, J, J, J, F);
        Add("stop 1.1.0", D, J, C);
        Add("remove", D, J, J, C);
        return [.. rows];
    }

    public static TheoryData<string> Cases => new(Table.Select(Name));

    private static string Name((CrashPoint Point, int Occurrence, string Step) c) => PowerLoss.Name(c);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task APowerLossAtADeployCrashPointLeavesOneCompleteReleaseRunningAndTheAppConvergesAgain(string name)
    {
        var (point, occurrence, _) = Table.Single(c => Name(c) == name);
        using var scenario = new DeployCrashScenario();
        await PowerLoss.AtAsync(scenario, point, occurrence, name, Ct);
        var settled = await scenario.RestartAsync(Ct);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"crash at {name}: settled on {settled?.Current ?? "nothing"} ({(settled?.Running == true ? "running" : "not running")}), last {(settled is { History.Count: > 0 } h ? h.History[^1].Result : "-")}");
    }

    [Fact]
    public async Task TheTableListsEveryDeployCrashPointAndEveryTimeTheScenarioReachesOne()
    {
        using var scenario = new DeployCrashScenario();
        var (reached, disk) = await PowerLoss.WithoutACrashAsync(scenario, Ct);
        Assert.Equal(Table.Select(c => (c.Point, c.Occurrence)), reached);
        Assert.Empty(DeployPoints.Except(disk.Points));
        Assert.All(Enum.GetValues<CrashPoint>().Where(p => p.ToString().StartsWith("Deploy", StringComparison.Ordinal)), p => Assert.Contains(p, DeployPoints));
    }

    [Fact]
    public async Task WithoutACrashTheAppIsRemovedAndAPowerLossAfterwardsLosesNothing()
    {
        using var scenario = new DeployCrashScenario();
        var (_, disk) = await PowerLoss.WithoutACrashAsync(scenario, Ct);
        var journal = File.ReadAllBytes(scenario.Paths.Journal(DeployCrashScenario.App));
        disk.PowerLoss();
        Assert.Equal(journal, File.ReadAllBytes(scenario.Paths.Journal(DeployCrashScenario.App)));
        var after = Belay.Core.Deploy.AppJournalStore.TryLoad(scenario.Paths.Journal(DeployCrashScenario.App))!;
        Assert.Null(after.Current);
        Assert.Equal(["install", "install", "install", "stop", "remove"], after.History.Select(h => h.Kind));
        Assert.Equal(["ok", "ok", "rolled-back", "ok", "ok"], after.History.Select(h => h.Result));
        Assert.False(Directory.Exists(scenario.Paths.Releases(DeployCrashScenario.App)));
    }
}
