using Belay.Core.IO;
using Belay.TestSupport;

namespace Belay.Core.Tests.Crash;

/// <summary>A host's life that reaches numbered crash points: an install and its updates, or an app's deploys.</summary>
internal interface ICrashScenario
{
    /// <summary>The folder whose files the crashing disk holds.</summary>
    string HostRoot { get; }

    /// <summary>Lives the whole life once; throws <see cref="CrashException"/> where the disk crashes.</summary>
    Task RunAsync(CancellationToken ct);

    /// <summary>What the step reaching <paramref name="point"/> has promised is on disk by then (host-relative path → bytes).</summary>
    Dictionary<string, byte[]> Promised(CrashPoint point);
}

/// <summary>The crash-point harness both CrashPointTests and DeployCrashPointTests run their tables through.</summary>
internal static class PowerLoss
{
    /// <summary>A table row's name, as the theory lists it: "07 StageRenamed #2 (the agent stages 1.1.0)".</summary>
    public static string Name((CrashPoint Point, int Occurrence, string Step) row) =>
        $"{(int)row.Point:00} {row.Point} #{row.Occurrence} ({row.Step})";

    /// <summary>
    /// Runs <paramref name="scenario"/> until it reaches <paramref name="point"/> for the
    /// <paramref name="occurrence"/>th time, cuts the power there (the disk keeps only what was
    /// flushed), and checks that every file the step had promised survived, byte for byte.
    /// </summary>
    public static async Task AtAsync(ICrashScenario scenario, CrashPoint point, int occurrence, string name, CancellationToken ct)
    {
        Dictionary<string, byte[]> promised = [];
        var disk = new CrashingFileSystem(scenario.HostRoot)
        {
            CrashAt = point,
            CrashOccurrence = occurrence,
            BeforeCrash = p => promised = scenario.Promised(p),
        };
        using (Durability.Observe(disk))
        {
            var crash = await Assert.ThrowsAsync<CrashException>(() => scenario.RunAsync(ct));
            Assert.Equal(point, crash.Point);
        }
        disk.PowerLoss();

        foreach (var (path, bytes) in promised)
        {
            var full = Path.Combine(scenario.HostRoot, path);
            Assert.True(File.Exists(full) && bytes.AsSpan().SequenceEqual(File.ReadAllBytes(full)),
                $"{path}, written before crash point {name}, did not survive the power loss " +
                $"({(File.Exists(full) ? $"{new FileInfo(full).Length} bytes, not {bytes.Length}" : "gone")})");
        }
    }

    /// <summary>
    /// Lives the scenario without a crash; returns every crash point it reached, in order, with
    /// the time it reached it, and the disk (for a power loss afterwards).
    /// </summary>
    public static async Task<(List<(CrashPoint Point, int Occurrence)> Reached, CrashingFileSystem Disk)> WithoutACrashAsync(ICrashScenario scenario, CancellationToken ct)
    {
        var disk = new CrashingFileSystem(scenario.HostRoot);
        using (Durability.Observe(disk))
        {
            await scenario.RunAsync(ct);
        }
        var counts = new Dictionary<CrashPoint, int>();
        return ([.. disk.Points.Select(p => (p, counts[p] = counts.GetValueOrDefault(p) + 1))], disk);
    }
}
