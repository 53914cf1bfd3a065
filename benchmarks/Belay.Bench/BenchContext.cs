using System.Globalization;
using System.Runtime.InteropServices;

namespace Belay.Bench;

/// <summary>
/// The bench's settings. Full (./build.sh bench) and quick (--quick) differ only in how long
/// and how many; every figure in a report says which it came from.
/// </summary>
internal sealed record BenchOptions
{
    public bool Quick { get; init; }
    public required string RepoRoot { get; init; }
    public required string BinDir { get; init; }
    public required string OutDir { get; init; }
    public string Command { get; init; } = "./build.sh bench";
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan FootprintWarmup { get; init; }
    public TimeSpan FootprintWindow { get; init; }
    public int LatencyRuns { get; init; }
    public int LatencyAgents { get; init; }
    public int FleetHosts { get; init; }
    public TimeSpan FleetWindow { get; init; }
    /// <summary>Size and latency run during the footprint window (see benchmarks/README.md); --sequential turns it off.</summary>
    public bool Overlap { get; init; } = true;

    public static BenchOptions Parse(string[] args)
    {
        string? Value(string name)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }
        int Int(string name, int quick, int full, bool q) =>
            Value(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : q ? quick : full;

        var isQuick = args.Contains("--quick");
        var repo = Path.GetFullPath(Value("--repo") ?? ".");
        return new BenchOptions
        {
            Quick = isQuick,
            RepoRoot = repo,
            BinDir = Path.GetFullPath(Value("--bin") ?? Path.Combine(repo, "artifacts", "publish", RuntimeInformation.RuntimeIdentifier)),
            OutDir = Path.GetFullPath(Value("--out") ?? Path.Combine(repo, "benchmarks", "results")),
            Command = Value("--command") ?? (isQuick ? "./build.sh bench --quick" : "./build.sh bench"),
            FootprintWarmup = TimeSpan.FromSeconds(Int("--warmup", 10, 20, isQuick)),
            FootprintWindow = TimeSpan.FromSeconds(Int("--window", 40, 300, isQuick)),
            LatencyRuns = Int("--runs", 2, 5, isQuick),
            LatencyAgents = Int("--agents", 3, 5, isQuick),
            FleetHosts = Int("--hosts", 2_000, 10_000, isQuick),
            FleetWindow = TimeSpan.FromSeconds(Int("--fleet-window", 15, 60, isQuick)),
            Overlap = !args.Contains("--sequential"),
        };
    }
}

/// <summary>What every benchmark shares: the binaries, the keys, the CA, a work folder.</summary>
internal sealed class BenchContext
{
    public BenchContext(BenchOptions options, string work)
    {
        Options = options;
        Work = work;
        Rid = RuntimeInformation.RuntimeIdentifier;
        Belay = Path.Combine(options.BinDir, "belay");
        Agent = Path.Combine(options.BinDir, "belay-agent");
        Release = Path.Combine(options.BinDir, "belay-release");
        KeysDir = Path.Combine(options.RepoRoot, ".keys");
        foreach (var f in (string[])[Belay, Agent, Release, Path.Combine(KeysDir, "root.key"), Path.Combine(KeysDir, "release.key")])
        {
            if (!File.Exists(f))
            {
                throw new InvalidOperationException($"{f} is missing: run ./build.sh publish first (./build.sh bench does)");
            }
        }
        AgentBytes = File.ReadAllBytes(Agent);
        BuiltVersion = Versions.Core(Shell.Check(Agent, ["--version"]).StdOut.Trim().Split((char[])[' ', '\n'])[0]);
        Tls = Tls.Create(Path.Combine(work, "tls"));
    }

    public BenchOptions Options { get; }
    public string Work { get; }
    public string Rid { get; }
    public string Belay { get; }
    public string Agent { get; }
    public string Release { get; }
    public string KeysDir { get; }
    public byte[] AgentBytes { get; }
    public string BuiltVersion { get; }
    public Tls Tls { get; }

    public string Dir(string name)
    {
        var d = Path.Combine(Work, name);
        Directory.CreateDirectory(d);
        return d;
    }

    public static void Say(string text) => Console.WriteLine($"bench {DateTime.UtcNow:HH:mm:ss} {text}");
}
