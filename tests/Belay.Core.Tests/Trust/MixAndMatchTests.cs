using Belay.Core.Feed;
using Belay.Core.Install;

namespace Belay.Core.Tests.Trust;

/// <summary>A validly signed artifact of another RID, version or product never gets staged.</summary>
public sealed class MixAndMatchTests : IDisposable
{
    private readonly TestFeed _feed = new();
    private readonly InstallLayout _layout;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public MixAndMatchTests()
    {
        _layout = new InstallLayout(_feed.Combine("bin"), _feed.Combine("etc"), _feed.State, _feed.Combine("log"));
        _feed.Publish("1.0.0", rid: "linux-x64");
        _feed.Publish("1.0.1", rid: "linux-arm64");
    }

    public void Dispose() => _feed.Dispose();

    private void AssertNothingStaged()
    {
        Assert.False(Directory.Exists(_layout.VersionsDir) && Directory.EnumerateFileSystemEntries(_layout.VersionsDir).Any());
        Assert.False(Directory.Exists(_layout.DownloadsDir) && Directory.EnumerateFileSystemEntries(_layout.DownloadsDir).Any());
    }

    [Fact]
    public async Task TheSignedArchiveOfAnotherRidServedInPlaceOfOursIsRefusedByItsHash()
    {
        // A mirror swaps in the arm64 archive (validly signed, with its own .minisig) at the x64 path.
        var x64 = _feed.File(FeedLayout.AgentArchive("1.0.0", "linux-x64"));
        File.Copy(_feed.File(FeedLayout.AgentArchive("1.0.1", "linux-arm64")), x64, overwrite: true);
        File.Copy(_feed.File(FeedLayout.AgentArchive("1.0.1", "linux-arm64")) + ".minisig", x64 + ".minisig", overwrite: true);
        using var client = _feed.Client();
        var check = await client.CheckAsync(0, null, Ct);
        var release = check.Manifest!.Releases.Single(r => r.Version == "1.0.0");
        var e = await Assert.ThrowsAsync<BelayException>(() => Stager.StageAsync(check.Source, release, "linux-x64", _layout, _ => { }, Ct));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("signed", e.Message, StringComparison.Ordinal); // its size or its hash differs from the signed entry
        AssertNothingStaged();
    }

    [Fact]
    public async Task AnEntryThatPointsOneRidVersionOrProductAtAnothersFileIsRefused()
    {
        using var client = _feed.Client();
        var check = await client.CheckAsync(0, null, Ct);
        var arm = check.Manifest!.Releases.Single(r => r.Version == "1.0.1").Artifacts["linux-arm64"];
        foreach (var (version, rid, entry) in new[]
        {
            ("1.0.0", "linux-x64", arm),
            ("1.0.1", "linux-x64", arm),
            ("1.0.0", "linux-x64", new ArtifactEntry { Path = "agent/1.0.0/other-agent-1.0.0-linux-x64.tar.gz", Sha256 = arm.Sha256, Size = arm.Size }),
        })
        {
            var release = new ReleaseEntry { Version = version, Artifacts = { [rid] = entry } };
            var e = await Assert.ThrowsAsync<BelayException>(() => Stager.StageAsync(check.Source, release, rid, _layout, _ => { }, Ct));
            Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
            Assert.Contains("refusing an artifact of another version, RID or product", e.Message, StringComparison.Ordinal);
        }
        AssertNothingStaged();
    }
}
