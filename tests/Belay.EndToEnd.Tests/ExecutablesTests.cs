using Belay.Core.Versioning;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests;

public sealed class ExecutablesTests
{
    [Fact]
    public void EachExecutablePrintsTheSameVersionSetByTheBuild()
    {
        var versions = new[] { BelayBinaries.Belay, BelayBinaries.Keeper, BelayBinaries.Agent, BelayBinaries.Release }
            .Select(exe => BelayBinaries.Run(exe, "--version"))
            .ToList();
        Assert.All(versions, r => Assert.Equal(0, r.ExitCode));
        var texts = versions.Select(r => r.StdOut.Trim()).Distinct().ToList();
        var version = Assert.Single(texts);
        Assert.True(SemVersion.TryParse(version, out _, out var error), error);
        var expected = Environment.GetEnvironmentVariable("BELAY_EXPECTED_VERSION");
        if (!string.IsNullOrEmpty(expected))
        {
            Assert.Equal(expected, version);
        }
    }

    [Fact]
    public void BelayAndTheAgentTrustTheRootKeyTheBuildCompiledIn()
    {
        var pub = File.ReadAllLines(Path.Combine(BelayBinaries.KeysDirectory, "root.pub"))[1].Trim();
        foreach (var exe in new[] { BelayBinaries.Belay, BelayBinaries.Agent })
        {
            var result = BelayBinaries.Run(exe, "root-keys");
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.StartsWith(pub, result.StdOut.Trim(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void AnUnknownOptionExitsWithTheUsageCode()
    {
        // belay-release and belay parse with System.CommandLine; the keeper and the agent read their few words by hand.
        foreach (var (exe, args) in new[]
        {
            (BelayBinaries.Release, new[] { "publish", "--no-such-option" }),
            (BelayBinaries.Belay, ["status", "--no-such-option"]),
            (BelayBinaries.Keeper, ["--config", "x.json", "--no-such-option"]),
            (BelayBinaries.Agent, ["run", "--no-such-option"]),
            (BelayBinaries.Agent, ["--no-such-option"]),
        })
        {
            var result = BelayBinaries.Run(exe, args);
            Assert.True(result.ExitCode == 2, $"{Path.GetFileName(exe)} {string.Join(' ', args)}: {result}");
            Assert.Contains("--help", result.StdErr, StringComparison.Ordinal);
            Assert.DoesNotContain(" at ", result.StdErr, StringComparison.Ordinal); // no stack trace
        }
    }

    [Fact]
    public void TheKeeperAndTheAgentSayWhatTheyAreWithHelp()
    {
        foreach (var exe in new[] { BelayBinaries.Keeper, BelayBinaries.Agent })
        {
            var result = BelayBinaries.Run(exe, "--help");
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Contains(Path.GetFileName(exe), result.StdOut, StringComparison.Ordinal);
            Assert.Contains("--config", result.StdOut, StringComparison.Ordinal);
        }
    }
}
