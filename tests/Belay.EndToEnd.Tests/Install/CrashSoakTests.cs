using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Belay.Core.Update;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>
/// SIGKILL at random moments of updates, with the shipped NativeAOT binaries: each
/// iteration publishes a new version, waits a random delay (the agent polls, stages, asks
/// for the switch, the keeper runs the trial and commits, all within it), then kills the
/// keeper, the agent or both with SIGKILL, starts the keeper again as the detached keeper
/// does (`belay run --config … --detach`), and requires that within a bound the host runs,
/// ready, a version whose binary is the one published, with a state file that parses.
/// BELAY_CRASH_SOAK_ITERATIONS sets the count (20 by default, as in CI; `./build.sh crash-soak`
/// runs 500), BELAY_CRASH_SOAK_SEED replays a run (the seed is printed either way). The same
/// for app deploys: Deploy/DeployCrashSoakTests.cs.
/// </summary>
public sealed class CrashSoakTests : IDisposable
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);
    private readonly InstalledHost _host = new();
    private readonly string _agentSha256 = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(BelayBinaries.Agent)));

    public void Dispose() => _host.Dispose();

    [Fact]
    public void SigkillOfTheKeeperOrTheAgentAtRandomMomentsOfUpdatesAlwaysLeavesAVerifiedVersionRunning()
    {
        var iterations = int.TryParse(Environment.GetEnvironmentVariable("BELAY_CRASH_SOAK_ITERATIONS"), CultureInfo.InvariantCulture, out var n) ? n : 20;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("BELAY_CRASH_SOAK_SEED"), CultureInfo.InvariantCulture, out var s) ? s : Random.Shared.Next();
        var rng = new Random(seed);
        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"crash soak: {iterations} iterations, seed {seed} (BELAY_CRASH_SOAK_SEED={seed} replays it)");

        _host.PublishAgentCopy("1.0.0");
        var install = _host.Install();
        Assert.True(install.ExitCode == 0, install + _host.ReadLog());

        var watch = Stopwatch.StartNew();
        var failures = new List<string>();
        var runs = 0;
        var kills = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 1; i <= iterations; i++)
        {
            runs++;
            var version = $"1.{i}.0";
            var delay = rng.Next(0, 2000);
            var victim = rng.Next(3) switch { 0 => "keeper", 1 => "agent", _ => "keeper and agent" };
            _host.PublishAgentCopy(version);
            Thread.Sleep(delay);
            var what = CrashSoak.Kill(_host.Prefix, victim);
            kills[what] = kills.GetValueOrDefault(what) + 1;
            CrashSoak.EnsureKeeper(_host.Prefix, _host.KeeperLog);
            if (Settled(version) is { } problem)
            {
                failures.Add($"iteration {i} ({version}, {victim} killed {delay} ms after the publish): {problem}");
                output?.WriteLine(failures[^1] + "\nkeeper log (end):\n" + string.Join("\n", _host.ReadLog().Split('\n').TakeLast(30)));
                CrashSoak.EnsureKeeper(_host.Prefix, _host.KeeperLog);
            }
            Prune();
        }

        var summary = $"crash soak: {runs} runs, {failures.Count} failures, seed {seed}";
        output?.WriteLine($"{summary} ({watch.Elapsed.TotalSeconds:0} s; {string.Join(", ", kills.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Value}× {k.Key}"))})");
        if (Environment.GetEnvironmentVariable("BELAY_CRASH_SOAK_REPORT") is { Length: > 0 } report)
        {
            File.AppendAllText(report, summary + "\n" + string.Concat(failures.Select(f => f + "\n")));
        }
        Assert.True(failures.Count == 0, summary + "\n" + string.Join("\n", failures));
        Assert.Equal(iterations, runs);
    }

    /// <summary>Null once the host runs <paramref name="newest"/>, ready, with no trial, a state that parses and the
    /// published binary; else, after <see cref="Settle"/> (or at once for a version marked bad), what is wrong.</summary>
    private string? Settled(string newest)
    {
        var watch = Stopwatch.StartNew();
        var last = "";
        while (watch.Elapsed < Settle)
        {
            last = Check(newest);
            if (last.Length == 0)
            {
                return null;
            }
            if (last.Contains("marked bad", StringComparison.Ordinal))
            {
                return last;
            }
            Thread.Sleep(100);
        }
        return $"not settled within {Settle.TotalSeconds:0} s: {last}";
    }

    private string Check(string newest)
    {
        InstallState state;
        try
        {
            state = InstallStateStore.Load(Path.Combine(_host.Prefix, "var", "state.json"));
        }
        catch (Belay.Core.BelayException e)
        {
            return $"state.json: {e.Message}";
        }
        var exe = Path.Combine(_host.Prefix, "versions", state.Current, "belay-agent");
        if (!File.Exists(exe) || Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(exe))) != _agentSha256)
        {
            return $"the current version {state.Current} is not the published binary ({exe})";
        }
        var result = InstalledHost.Belay("status", "--prefix", _host.Prefix, "--scope", "user", "--json");
        if (result.ExitCode is not (0 or 1) || result.StdOut.Length == 0) // 1: keeper or agent down, report printed
        {
            return "belay status: " + result;
        }
        using var doc = JsonDocument.Parse(result.StdOut);
        var status = doc.RootElement;
        if (InstalledHost.On(status, newest))
        {
            return "";
        }
        if (InstalledHost.Bad(status).Contains(newest))
        {
            // One kill uses up at most one of its three tries: a good version marked bad means
            // a kill left something broken behind (a torn version folder, a lost try count).
            return $"{newest}, a good version, was marked bad";
        }
        return $"status: version {InstalledHost.Version(status)}, trial {InstalledHost.Trial(status) ?? "none"}, " +
            $"ready {status.GetProperty("agent").GetProperty("ready")}, bad [{string.Join(", ", InstalledHost.Bad(status))}]";
    }

    /// <summary>Keeps the soak's disk use flat: drops version folders the host can no longer use, and old archives from the feed.</summary>
    private void Prune()
    {
        var state = InstallStateStore.Load(Path.Combine(_host.Prefix, "var", "state.json"));
        var keep = new HashSet<string?>([state.Current, state.Previous, state.Trial?.Version], StringComparer.Ordinal);
        foreach (var dir in Directory.EnumerateDirectories(Path.Combine(_host.Prefix, "versions")))
        {
            var name = Path.GetFileName(dir);
            if (!name.StartsWith('.') && !keep.Contains(name))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        foreach (var dir in Directory.EnumerateDirectories(Path.Combine(_host.Workspace.Feed, "agent")))
        {
            if (!keep.Contains(Path.GetFileName(dir)))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }
}
