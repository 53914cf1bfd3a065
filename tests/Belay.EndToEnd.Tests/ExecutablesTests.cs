using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
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
        var line = Assert.Single(texts);
        var version = line.Split(' ')[0]; // the version first, for scripts: belay --version | cut -d' ' -f1
        Assert.True(SemVersion.TryParse(version, out _, out var error), error);
        Assert.Matches($@"^{Regex.Escape(version)} \(commit ([0-9a-f]{{12}}|unknown), (\d{{4}}-\d{{2}}-\d{{2}}|unknown), {Regex.Escape(RuntimeInformation.RuntimeIdentifier)}\)$", line);
        var expected = Environment.GetEnvironmentVariable("BELAY_EXPECTED_VERSION");
        if (!string.IsNullOrEmpty(expected))
        {
            Assert.Equal(expected, version);
        }
    }

    [Theory]
    [InlineData("belay")]
    [InlineData("belay-agent")]
    [InlineData("belay-release")]
    public void VersionAsJsonHasTheProgramVersionCommitSourceDateAndRid(string program)
    {
        var exe = Path.Combine(BelayBinaries.Directory, program);
        foreach (var args in new[] { new[] { "--version", "--json" }, ["version", "--json"] })
        {
            var result = BelayBinaries.Run(exe, args);
            Assert.True(result.ExitCode == 0, result.ToString());
            using var doc = JsonDocument.Parse(result.StdOut);
            var root = doc.RootElement;
            Assert.Equal(program, root.GetProperty("program").GetString());
            Assert.Equal(BelayBinaries.Run(exe, "--version").StdOut.Split(' ')[0], root.GetProperty("version").GetString());
            Assert.Matches("^([0-9a-f]{40}|unknown)$", root.GetProperty("commit").GetString());
            Assert.Matches(@"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z|unknown)$", root.GetProperty("sourceDate").GetString());
            Assert.Equal(RuntimeInformation.RuntimeIdentifier, root.GetProperty("rid").GetString());
        }
    }

    [Fact]
    public void TheCommitIsTheOneBuilt()
    {
        var git = ExternalTool.Find("git");
        var head = git is null ? null : ExternalTool.Run(git, ["-C", BelayBinaries.RepoRoot, "rev-parse", "HEAD"]);
        if (head is not { ExitCode: 0 })
        {
            Assert.Skip("not a git checkout");
        }
        using var doc = JsonDocument.Parse(BelayBinaries.Run(BelayBinaries.Belay, "version", "--json").StdOut);
        // The binaries are built from the checkout; a commit made after the build is the only way they differ.
        var built = doc.RootElement.GetProperty("commit").GetString()!;
        var log = ExternalTool.Run(git!, ["-C", BelayBinaries.RepoRoot, "log", "--format=%H", "-20"]);
        Assert.Contains(built, log.StdOut, StringComparison.Ordinal);
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
