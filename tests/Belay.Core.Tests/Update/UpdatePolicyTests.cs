using System.Globalization;
using Belay.Core.Feed;
using Belay.Core.Update;

namespace Belay.Core.Tests.Update;

public sealed class UpdatePolicyTests
{
    private const string Rid = "linux-x64";
    private const string Host = "host-1";

    private static ReleaseEntry Release(string version, int percent = 100, params string[] rids) => new()
    {
        Version = version,
        Rollout = new Rollout { Percent = percent },
        Artifacts = (rids.Length == 0 ? [Rid] : rids).ToDictionary(
            r => r,
            r => new ArtifactEntry { Path = $"agent/{version}/belay-agent-{version}-{r}.tar.gz", Sha256 = new string('0', 64), Size = 1 },
            StringComparer.Ordinal),
    };

    private static ChannelManifest Manifest(params ReleaseEntry[] releases) =>
        new() { Channel = "stable", Sequence = 1, Releases = [.. releases] };

    private static string? Update(ChannelManifest m, string current, string[]? bad = null, string? pinned = null, string host = Host) =>
        UpdatePolicy.ChooseUpdate(m, Rid, host, current, bad ?? [], pinned)?.Version;

    // Admission

    [Fact]
    public void AZeroPercentRolloutAdmitsNobodyAndAHundredPercentEverybody()
    {
        for (var i = 0; i < 1000; i++)
        {
            var host = $"host-{i}";
            Assert.False(UpdatePolicy.IsAdmitted(host, "1.4.2", 0));
            Assert.True(UpdatePolicy.IsAdmitted(host, "1.4.2", 100));
        }
    }

    [Fact]
    public void TheBucketIsTheFirstEightBytesOfTheSha256OfHostColonVersionModOneHundred()
    {
        // sha256("host-1:1.4.2")[0..8] as a big-endian integer, mod 100, computed independently.
        Assert.Equal(46, UpdatePolicy.Bucket("host-1", "1.4.2"));
        Assert.False(UpdatePolicy.IsAdmitted("host-1", "1.4.2", 46));
        Assert.True(UpdatePolicy.IsAdmitted("host-1", "1.4.2", 47));
        Assert.Equal(53, UpdatePolicy.Bucket("0f6c1c2e-3a4b-4c5d-8e9f-0123456789ab", "1.4.2"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(25)]
    [InlineData(50)]
    [InlineData(90)]
    public void TheShareOfAdmittedHostsMatchesThePercent(int percent)
    {
        const int Hosts = 10_000;
        var admitted = Enumerable.Range(0, Hosts)
            .Count(i => UpdatePolicy.IsAdmitted(Guid.CreateVersion7().ToString() + i.ToString(CultureInfo.InvariantCulture), "1.4.2", percent));
        // Binomial: the standard deviation is at most 0.5 points at 10,000 hosts; allow 4.
        Assert.InRange(admitted * 100.0 / Hosts, percent - 2.0, percent + 2.0);
    }

    [Fact]
    public void RaisingTheRolloutOnlyEverAddsHosts()
    {
        for (var i = 0; i < 500; i++)
        {
            var host = $"h{i}";
            var first = Enumerable.Range(0, 101).First(p => UpdatePolicy.IsAdmitted(host, "2.0.0", p));
            Assert.All(Enumerable.Range(first, 101 - first), p => Assert.True(UpdatePolicy.IsAdmitted(host, "2.0.0", p)));
        }
    }

    [Fact]
    public void EachVersionAdmitsADifferentSampleOfHosts()
    {
        var hosts = Enumerable.Range(0, 1000).Select(i => $"host-{i}").ToList();
        var a = hosts.Where(h => UpdatePolicy.IsAdmitted(h, "1.0.0", 10)).ToHashSet();
        var b = hosts.Where(h => UpdatePolicy.IsAdmitted(h, "1.1.0", 10)).ToHashSet();
        Assert.True(a.Intersect(b).Count() < a.Count / 2, "the same hosts are not always first");
    }

    // ChooseUpdate

    [Fact]
    public void TheNewestReleaseNewerThanTheCurrentOneIsChosen()
    {
        var m = Manifest(Release("1.0.0"), Release("1.2.0"), Release("1.10.0"), Release("1.9.0"));
        Assert.Equal("1.10.0", Update(m, "1.0.0"));
    }

    [Fact]
    public void NothingIsChosenWhenNothingIsNewer()
    {
        var m = Manifest(Release("0.9.0"), Release("1.0.0"), Release("1.0.0-rc.2"));
        Assert.Null(Update(m, "1.0.0"));
    }

    [Fact]
    public void ABadReleaseIsSkippedForTheNextNewestOne()
    {
        var m = Manifest(Release("1.1.0"), Release("1.2.0"));
        Assert.Equal("1.1.0", Update(m, "1.0.0", bad: ["1.2.0"]));
        Assert.Null(Update(m, "1.0.0", bad: ["1.2.0", "1.1.0"]));
    }

    [Fact]
    public void AReleaseThatDoesNotAdmitTheHostIsSkipped()
    {
        var bucket = UpdatePolicy.Bucket(Host, "1.2.0");
        Assert.Equal("1.1.0", Update(Manifest(Release("1.1.0"), Release("1.2.0", percent: bucket)), "1.0.0"));
        Assert.Equal("1.2.0", Update(Manifest(Release("1.1.0"), Release("1.2.0", percent: bucket + 1)), "1.0.0"));
        Assert.Null(Update(Manifest(Release("1.1.0", percent: 0)), "1.0.0"));
    }

    [Fact]
    public void AReleaseWithoutAnArtifactForTheRidIsSkipped()
    {
        var m = Manifest(Release("1.1.0"), Release("1.2.0", 100, "win-x64", "linux-arm64"));
        Assert.Equal("1.1.0", Update(m, "1.0.0"));
    }

    [Fact]
    public void ReleasesWhoseVersionDoesNotParseAreSkipped()
    {
        var m = Manifest(Release("latest"), Release("1.1.0"), Release("v2"));
        Assert.Equal("1.1.0", Update(m, "1.0.0"));
    }

    [Fact]
    public void AReleaseFollowsItsOwnPreReleases()
    {
        var m = Manifest(Release("2.0.0-rc.1"), Release("2.0.0"), Release("2.0.0-rc.2"));
        Assert.Equal("2.0.0", Update(m, "1.0.0"));
        Assert.Equal("2.0.0-rc.2", Update(Manifest(Release("2.0.0-rc.1"), Release("2.0.0-rc.2")), "2.0.0-rc.1"));
    }

    [Fact]
    public void APinIsTakenExactlyEvenWhenOlderOrNotRolledOut()
    {
        var m = Manifest(Release("1.0.0", percent: 0), Release("1.1.0"), Release("1.2.0"));
        Assert.Equal("1.0.0", Update(m, "1.2.0", pinned: "1.0.0"));
        Assert.Equal("1.1.0", Update(m, "1.0.0", pinned: "1.1.0"));
    }

    [Fact]
    public void APinThatIsCurrentBadMissingOrNotBuiltForTheRidChoosesNothing()
    {
        var m = Manifest(Release("1.1.0"), Release("1.2.0", 100, "win-x64"));
        Assert.Null(Update(m, "1.1.0", pinned: "1.1.0"));
        Assert.Null(Update(m, "1.0.0", bad: ["1.1.0"], pinned: "1.1.0"));
        Assert.Null(Update(m, "1.0.0", pinned: "1.3.0"));
        Assert.Null(Update(m, "1.0.0", pinned: "1.2.0"));
    }

    [Fact]
    public void AnInvalidCurrentVersionIsAnArgumentError()
    {
        Assert.Throws<ArgumentException>(() => Update(Manifest(Release("1.0.0")), "current"));
    }

    // ChooseInstall

    [Fact]
    public void AFirstInstallTakesTheNewestAdmittedReleaseForTheRid()
    {
        var m = Manifest(Release("1.0.0"), Release("1.1.0"), Release("1.2.0", 100, "win-x64"), Release("1.3.0", percent: 0));
        var (release, reason) = UpdatePolicy.ChooseInstall(m, Rid, Host, pinned: null);
        Assert.Equal("1.1.0", release?.Version);
        Assert.Null(reason);
    }

    [Fact]
    public void AFirstInstallOnAnUnbuiltRidSaysWhichRidsExist()
    {
        var m = Manifest(Release("1.0.0", 100, "linux-x64", "win-x64"), Release("1.1.0", 100, "linux-x64"));
        var (release, reason) = UpdatePolicy.ChooseInstall(m, "linux-arm64", Host, pinned: null);
        Assert.Null(release);
        Assert.Equal("no release has an artifact for linux-arm64 (available: linux-x64, win-x64)", reason);
    }

    [Fact]
    public void AFirstInstallFromAnEmptyChannelSaysSo()
    {
        var (release, reason) = UpdatePolicy.ChooseInstall(Manifest(), Rid, Host, pinned: null);
        Assert.Null(release);
        Assert.Equal("channel stable has no releases", reason);
    }

    [Fact]
    public void AFirstInstallThatNoRolloutAdmitsSaysHowToPin()
    {
        var (release, reason) = UpdatePolicy.ChooseInstall(Manifest(Release("1.0.0", percent: 0)), Rid, Host, pinned: null);
        Assert.Null(release);
        Assert.Contains("no release for linux-x64 admits this host yet", reason, StringComparison.Ordinal);
        Assert.Contains("--version", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void APinnedFirstInstallTakesThatVersionWhateverItsRollout()
    {
        var m = Manifest(Release("1.0.0", percent: 0), Release("1.1.0"));
        var (release, reason) = UpdatePolicy.ChooseInstall(m, Rid, Host, pinned: "1.0.0");
        Assert.Equal("1.0.0", release?.Version);
        Assert.Null(reason);
    }

    [Fact]
    public void APinnedFirstInstallOfAMissingVersionListsTheVersionsThatExist()
    {
        var m = Manifest(Release("1.0.0"), Release("1.10.0"), Release("1.2.0"));
        var (release, reason) = UpdatePolicy.ChooseInstall(m, Rid, Host, pinned: "1.3.0");
        Assert.Null(release);
        Assert.Equal("version 1.3.0 is not on channel stable (available: 1.10.0, 1.2.0, 1.0.0)", reason);
    }

    [Fact]
    public void APinnedFirstInstallOfAVersionNotBuiltForTheRidSaysWhatItWasBuiltFor()
    {
        var m = Manifest(Release("1.0.0", 100, "win-x64", "osx-arm64"));
        var (release, reason) = UpdatePolicy.ChooseInstall(m, Rid, Host, pinned: "1.0.0");
        Assert.Null(release);
        Assert.Equal("version 1.0.0 has no artifact for linux-x64 (available: osx-arm64, win-x64)", reason);
    }

    // Yanked releases

    private static ReleaseEntry Yanked(string version)
    {
        var release = Release(version);
        release.Yanked = new DateTimeOffset(2026, 11, 27, 8, 0, 0, TimeSpan.Zero);
        return release;
    }

    [Fact]
    public void AYankedReleaseIsNeverTakenAndTheNewestOtherOneIs()
    {
        var m = Manifest(Release("1.0.0"), Release("1.1.0"), Yanked("1.2.0"));
        Assert.Equal("1.1.0", Update(m, "1.0.0"));
        Assert.Null(Update(m, "1.1.0"));
        Assert.Null(Update(m, "1.0.0", pinned: "1.2.0")); // not even pinned
    }

    [Fact]
    public void AHostOnAYankedReleaseIsNotMovedOffItButTakesTheNextNewerOne()
    {
        Assert.Null(Update(Manifest(Release("1.0.0"), Yanked("1.1.0")), "1.1.0"));
        Assert.Equal("1.2.0", Update(Manifest(Release("1.0.0"), Yanked("1.1.0"), Release("1.2.0")), "1.1.0"));
    }

    [Fact]
    public void AnInstallSkipsYankedReleasesAndRefusesToPinOneSayingSo()
    {
        var m = Manifest(Release("1.0.0"), Yanked("1.1.0"));
        Assert.Equal("1.0.0", UpdatePolicy.ChooseInstall(m, Rid, Host, null).Release?.Version);
        var (release, reason) = UpdatePolicy.ChooseInstall(m, Rid, Host, "1.1.0");
        Assert.Null(release);
        Assert.Contains("version 1.1.0 was withdrawn (yanked) by the publisher on 2026-11-27 08:00:00Z", reason, StringComparison.Ordinal);
        Assert.Contains("every release on channel stable was withdrawn", UpdatePolicy.ChooseInstall(Manifest(Yanked("1.1.0")), Rid, Host, null).Reason, StringComparison.Ordinal);
    }
}
