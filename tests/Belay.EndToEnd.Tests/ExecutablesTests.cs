using Belay.Core.Versioning;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests;

public sealed class ExecutablesTests
{
    [Fact]
    public void EachExecutablePrintsTheSameVersionSetByTheBuild()
    {
        var versions = new[] { BelayBinaries.Belay, BelayBinaries.Agent, BelayBinaries.Release }
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
        var result = BelayBinaries.Run(BelayBinaries.Release, "publish", "--no-such-option");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--no-such-option", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("--help", result.StdErr, StringComparison.Ordinal);
    }
}
