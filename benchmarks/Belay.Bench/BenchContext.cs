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
    /// <summary>--long: a 30-minute footprint window, so that the steady state (after ten minutes of polling) is measured.</summary>
    public bool Long { get; init; }
    /// <summary>The phases to run (--only footprint,size,latency,fleet,hub,hubscale); all by default.</summary>
    public IReadOnlySet<string> Phases { get; init; } = AllPhases;
    public static readonly IReadOnlySet<string> AllPhases = new HashSet<string>(StringComparer.Ordinal) { "footprint", "size", "latency", "fleet", "hub", "hubscale" };
    /// <summary>How often each process's memory is broken down (/proc/PID/smaps; each second only smaps_rollup is read).</summary>
    public TimeSpan BreakdownEvery { get; init; }
    /// <summary>The agent's age from which the footprint counts as steady (DESIGN: after ten minutes of polling).</summary>
    public static readonly TimeSpan SteadyAfter = TimeSpan.FromMinutes(10);
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
    /// <summary>Simulated agents on the hub at scale (two nodes on PostgreSQL, then one on SQLite).</summary>
    public int HubScaleAgents { get; init; }
    /// <summary>The simulated agents' poll interval (the agent's default, 10 s): each poll sends the hub a new state.</summary>
    public TimeSpan HubScalePoll { get; init; }
    /// <summary>Size and latency run during the footprint window (see benchmarks/README.md); --sequential turns it off.</summary>
    public bool Overlap { get; init; } = true;
    /// <summary>--raw-bootstrap: the latency feed without the bootstrapper's gzip copy, so install.sh downloads the raw one (the one-liner as it was before the copy).</summary>
    public bool RawBootstrap { get; init; }

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
        var isLong = args.Contains("--long");
        if (isQuick && isLong)
        {
            throw new InvalidOperationException("--quick and --long do not go together");
        }
        var only = Value("--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (only?.FirstOrDefault(p => !AllPhases.Contains(p)) is { } unknown)
        {
            throw new InvalidOperationException($"--only {unknown}: the phases are footprint, size, latency, fleet, hub and hubscale");
        }
        var repo = Path.GetFullPath(Value("--repo") ?? ".");
        return new BenchOptions
        {
            Quick = isQuick,
            Long = isLong,
            Phases = only is null ? AllPhases : new HashSet<string>(only, StringComparer.Ordinal),
            BreakdownEvery = TimeSpan.FromSeconds(isQuick ? 5 : isLong ? 30 : 10),
            RepoRoot = repo,
            BinDir = Path.GetFullPath(Value("--bin") ?? Path.Combine(repo, "artifacts", "publish", RuntimeInformation.RuntimeIdentifier)),
            OutDir = Path.GetFullPath(Value("--out") ?? Path.Combine(repo, "benchmarks", "results")),
            Command = Value("--command") ?? (isQuick ? "./build.sh bench --quick" : isLong ? "./build.sh bench --long" : "./build.sh bench"),
            FootprintWarmup = TimeSpan.FromSeconds(Int("--warmup", 10, 20, isQuick)),
            FootprintWindow = TimeSpan.FromSeconds(Int("--window", 40, isLong ? 1800 : 300, isQuick)),
            LatencyRuns = Int("--runs", 2, 5, isQuick),
            LatencyAgents = Int("--agents", 3, 5, isQuick),
            FleetHosts = Int("--hosts", 2_000, 10_000, isQuick),
            FleetWindow = TimeSpan.FromSeconds(Int("--fleet-window", 15, 60, isQuick)),
            HubScaleAgents = Int("--hub-agents", 1_000, 10_000, isQuick),
            HubScalePoll = TimeSpan.FromSeconds(Int("--hub-poll", 10, 10, isQuick)),
            Overlap = !args.Contains("--sequential"),
            RawBootstrap = args.Contains("--raw-bootstrap"),
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
