using System.Diagnostics;
using System.Security.Cryptography;
using Belay.Core.Feed;
using Belay.Core.Install;
using Belay.TestSupport;

namespace Belay.Core.Tests.Trust;

/// <summary>
/// Every client path (root fetch, manifest fetch, artifact download through FeedClient and
/// Stager, as the installer, `belay update` and the agent use them) against every
/// misbehaviour of <see cref="HostileFeedServer"/>: it ends in bounded time, with a clear
/// error, and writes nothing outside staging (no version folder, no download left, the
/// trust record and watermark unchanged).
/// </summary>
public sealed class HostileFeedTests : IDisposable
{
    private readonly TestFeed _feed = new();
    private readonly InstallLayout _layout;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public HostileFeedTests()
    {
        _feed.Publish("1.0.0", RandomNumberGenerator.GetBytes(200_000));
        var host = _feed.Combine("host");
        _layout = new InstallLayout(Path.Combine(host, "bin"), Path.Combine(host, "etc"), _feed.State, Path.Combine(host, "log"));
    }

    public void Dispose() => _feed.Dispose();

    public static TheoryData<Hostility, string> Attacks() => HostileCases.Attacks("root", "manifest", "artifact");

    private static Func<string, bool> Target(string target) => target switch
    {
        "root" => p => p.StartsWith("root", StringComparison.Ordinal),
        "manifest" => p => p.StartsWith("channels/", StringComparison.Ordinal),
        _ => p => p.StartsWith("agent/", StringComparison.Ordinal),
    };

    private FeedClient Client(params string[] feeds) =>
        new(feeds, [_feed.RootKey.PublicKey], FeedLayout.DefaultProduct, "stable", allowInsecureHttp: false, _feed.Clock, trustFile: _feed.TrustFile, limits: HostileCases.Limits);

    private static int ExpectedExitCode(Hostility b) =>
        b is Hostility.HugeContentLength or Hostility.Endless ? ExitCodes.TrustFailure : ExitCodes.FeedUnreachable;

    [Theory]
    [MemberData(nameof(Attacks))]
    public async Task EveryClientPathEndsInBoundedTimeWithAClearErrorAndWritesNothing(Hostility behaviour, string target)
    {
        await using var server = new HostileFeedServer(_feed.Root);
        using var client = Client(server.Url);
        // An honest first check: the host trusts the feed and has watermark 1.
        var honest = await client.CheckAsync(0, null, Ct);
        var trustBefore = File.ReadAllBytes(_feed.TrustFile);

        server.Behaviour = behaviour;
        server.Targets = Target(target);
        var watch = Stopwatch.StartNew();
        BelayException e;
        if (target == "artifact")
        {
            e = await Assert.ThrowsAnyAsync<BelayException>(() =>
                Stager.StageAsync(honest.Source, honest.Manifest!.Releases[0], "linux-x64", _layout, _ => { }, Ct));
        }
        else
        {
            using var fresh = Client(server.Url);
            e = await Assert.ThrowsAnyAsync<BelayException>(() => fresh.CheckAsync(1, null, Ct));
        }
        watch.Stop();

        Assert.True(watch.Elapsed < HostileCases.Bound, $"{behaviour} on {target} took {watch.Elapsed}");
        Assert.Equal(ExpectedExitCode(behaviour), e.ExitCode);
        Assert.Contains(server.Url, e.Message, StringComparison.Ordinal);
        Assert.Equal(trustBefore, File.ReadAllBytes(_feed.TrustFile));
        Assert.False(Directory.Exists(_layout.VersionsDir) && Directory.EnumerateFileSystemEntries(_layout.VersionsDir).Any(), "no version folder");
        Assert.False(Directory.Exists(_layout.DownloadsDir) && Directory.EnumerateFileSystemEntries(_layout.DownloadsDir).Any(), "no download left");
        Assert.Equal(["trust.json"], Directory.EnumerateFileSystemEntries(_feed.State).Select(Path.GetFileName).Where(n => n != "downloads"));
    }

    [Theory]
    [InlineData(Hostility.Trickle, "too slow")]
    [InlineData(Hostility.StallAfterHeaders, "too slow")]
    [InlineData(Hostility.StallBeforeHeaders, "too slow")]
    [InlineData(Hostility.HugeContentLength, "announces 1099511627776 bytes")]
    [InlineData(Hostility.Endless, "larger than")]
    [InlineData(Hostility.ShortBody, "failed")]
    public async Task TheErrorSaysWhatWentWrong(Hostility behaviour, string expected)
    {
        await using var server = new HostileFeedServer(_feed.Root) { Behaviour = behaviour };
        using var client = Client(server.Url);
        var e = await Assert.ThrowsAnyAsync<BelayException>(() => client.CheckAsync(0, null, Ct));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MoreBytesThanContentLengthAreIgnoredAndTheSignedFileIsWhatCounts()
    {
        await using var server = new HostileFeedServer(_feed.Root) { Behaviour = Hostility.LongBody };
        using var client = Client(server.Url);
        var check = await client.CheckAsync(0, null, Ct);
        var agent = await Assert.ThrowsAnyAsync<BelayException>(() =>
            Stager.StageAsync(check.Source, check.Manifest!.Releases[0], "linux-x64", _layout, _ => { }, Ct));
        // The download itself verified (size and hash); what fails is that random bytes are no archive.
        Assert.DoesNotContain("SHA-256", agent.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_layout.VersionDir("1.0.0")));
    }

    [Fact]
    public async Task AnIntermittentServerIsRetriedAtTheNextCheckAndAMirrorCoversForIt()
    {
        await using var server = new HostileFeedServer(_feed.Root) { Behaviour = Hostility.Intermittent500 };
        using var client = Client(server.Url);
        var first = await Assert.ThrowsAnyAsync<BelayException>(() => client.CheckAsync(0, null, Ct));
        Assert.Equal(ExitCodes.FeedUnreachable, first.ExitCode);
        Assert.Contains("500", first.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_feed.TrustFile));

        await using var mirror = new HostileFeedServer(_feed.Root);
        server.Behaviour = Hostility.StallAfterHeaders;
        using var both = Client(server.Url, mirror.Url);
        var watch = Stopwatch.StartNew();
        var check = await both.CheckAsync(0, null, Ct);
        Assert.True(watch.Elapsed < HostileCases.Bound);
        Assert.Equal(mirror.Url, check.Source.Location);
        var download = await ArtifactDownloader.DownloadAsync(check.Source, check.Manifest!.Releases[0].Artifacts["linux-x64"], _feed.State, Ct);
        Assert.Equal(200_000, new FileInfo(download).Length);
    }

    [Fact]
    public async Task AReplayOfAnOlderFeedIsRefusedAndTheWatermarkStays()
    {
        var old = _feed.Combine("old-feed");
        Directory.CreateDirectory(old);
        foreach (var f in Directory.EnumerateFiles(_feed.Root, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(old, Path.GetRelativePath(_feed.Root, f));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(f, to);
        }
        _feed.Publish("1.1.0", RandomNumberGenerator.GetBytes(1000));
        await using var server = new HostileFeedServer(_feed.Root) { ReplayRoot = old };
        using var client = Client(server.Url);
        Assert.Equal(2, (await client.CheckAsync(0, null, Ct)).Manifest!.Sequence);

        server.Behaviour = Hostility.Replay;
        using var replayed = Client(server.Url);
        var e = await Assert.ThrowsAnyAsync<BelayException>(() => replayed.CheckAsync(0, null, Ct));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("lower than 2", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, _feed.Trust!.Sequence);
    }
}
