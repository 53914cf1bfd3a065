using System.Diagnostics;
using System.Text.RegularExpressions;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests;

/// <summary>
/// The order files (agent/belay-agent.order, keeper/belay-keeper.order) must name the methods of the build that
/// ships (issue 12). ILC skips a name it does not have, silently, and the C# compiler renames an async method's state
/// machine (<c>RunAsync_d__19</c> to <c>_d__20</c>) when a field or a lambda is added to its class: a stale file then
/// left the agent's poll loop in the cold part of its image, and its resident code grew from 1.21 to 1.68 MB in the
/// long footprint bench (docs/architecture.md, "Ninth round"). When this fails, regenerate the files with
/// benchmarks/order-profile.sh (benchmarks/README.md) and commit them. Reads the symbols of the .dbg files that
/// publish leaves beside the executables, with binutils' nm (NativeAOT's link needs binutils). Bytes and names only.
/// </summary>
public sealed class OrderFileTests
{
    [Theory]
    [InlineData("belay-agent", "agent/belay-agent.order", "belay_agent_Belay_Agent_AgentHost__RunAsync")]
    [InlineData("belay-agent", "agent/belay-agent.order", "belay_agent_Belay_Agent_AgentHost__WaitForNextCheckAsync")]
    [InlineData("belay-agent", "agent/belay-agent.order", "belay_agent_Belay_Agent_Supervision_Supervisor__LoopAsync")]
    [InlineData("belay-keeper", "keeper/belay-keeper.order", "belay_keeper_Belay_Keeper_KeeperHost__RunAsync")]
    [InlineData("belay-keeper", "keeper/belay-keeper.order", "belay_keeper_Belay_Keeper_OrphanReaper__RunAsync")]
    public void TheOrderFileNamesTheSteadyLoopsStateMachineAsThisBuildNamesIt(string exe, string orderFile, string method)
    {
        var pattern = new Regex("^" + Regex.Escape(method) + @"_d__\d+__MoveNext$", RegexOptions.CultureInvariant);
        var inBuild = Assert.Single(CodeSymbols(exe), name => pattern.IsMatch(name));
        var order = OrderNames(orderFile);
        var listed = order.Where(name => pattern.IsMatch(name)).ToList();
        Assert.True(order.Contains(inBuild),
            $"{orderFile} lists {(listed.Count == 0 ? "no state machine" : string.Join(", ", listed))} for {method}, this build has {inBuild}: " +
            "regenerate the order files (sh benchmarks/order-profile.sh; benchmarks/README.md)");
    }

    [Theory]
    [InlineData("belay-agent", "agent/belay-agent.order")]
    [InlineData("belay-keeper", "keeper/belay-keeper.order")]
    public void TheOrderFilesHottestNamesAreInThisBuild(string exe, string orderFile)
    {
        // The first few hundred names are what an idle process runs every minute: nearly all must still exist.
        var symbols = CodeSymbols(exe);
        var hottest = OrderNames(orderFile).Take(300).ToList();
        var missing = hottest.Where(name => !symbols.Contains(name)).ToList();
        Assert.True(hottest.Count == 300, $"{orderFile} has only {hottest.Count} names");
        Assert.True(missing.Count <= 15,
            $"{missing.Count} of the first 300 names in {orderFile} are not in this build's {exe} (e.g. {string.Join(", ", missing.Take(5))}): " +
            "regenerate the order files (sh benchmarks/order-profile.sh; benchmarks/README.md)");
    }

    private static List<string> OrderNames(string orderFile) =>
        File.ReadLines(Path.Combine(BelayBinaries.RepoRoot, orderFile)).Where(line => line.Length > 0 && line[0] != '#').ToList();

    /// <summary>The names of the code symbols (nm's t and T) in the executable's .dbg file.</summary>
    private static HashSet<string> CodeSymbols(string exe)
    {
        var dbg = Path.Combine(BelayBinaries.Directory, exe + ".dbg");
        Assert.True(File.Exists(dbg), $"{dbg} is missing: ./build.sh publish leaves it beside {exe}");
        var psi = new ProcessStartInfo("nm") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("--defined-only");
        psi.ArgumentList.Add(dbg);
        using var nm = Process.Start(psi) ?? throw new InvalidOperationException("could not start nm (binutils)");
        var stderr = nm.StandardError.ReadToEndAsync();
        var symbols = new HashSet<string>(StringComparer.Ordinal);
        while (nm.StandardOutput.ReadLine() is { } line)
        {
            var fields = line.Split(' ', 3);
            if (fields.Length == 3 && fields[1] is "t" or "T")
            {
                symbols.Add(fields[2]);
            }
        }
        nm.WaitForExit();
        Assert.True(nm.ExitCode == 0, $"nm {dbg} exited {nm.ExitCode}: {stderr.Result}");
        return symbols;
    }
}
