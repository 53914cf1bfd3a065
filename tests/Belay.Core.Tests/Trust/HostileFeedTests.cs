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
public abstract class HostileFeedContract : IDisposable
{
    private readonly TestFeed _feed = new();
    private readonly InstallLayout _layout;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected HostileFeedContract()
    {
        _feed.Publish("1.0.0", RandomNumberGenerator.GetBytes(200_000));
        var host = _feed.Combine("host");
        _layout = new InstallLayout(Path.Combine(host, "bin"), Path.Combine(host, "etc"), _feed.State, Path.Combine(host, "log"));
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _feed.Dispose();
        }
    }

    /// <summary>How a feed URL is opened: null for <see cref="FeedSource.Open"/> (HttpClient in a test process).</summary>
    protected virtual Func<string, FeedSource>? Open => null;

    /// <summary>The exit code a misbehaviour ends in.</summary>
    protected virtual int ExpectedExitCode(Hostility b) =>
        b is Hostility.HugeContentLength or Hostility.Endless ? ExitCodes.TrustFailure : ExitCodes.FeedUnreachable;

    /// <summary>What the error says for a misbehaviour, given what HttpClient's says.</summary>
    protected virtual string Expected(Hostility behaviour, string withHttpClient) => withHttpClient;

    public static TheoryData<Hostility, string> Attacks() => HostileCases.Attacks("root", "manifest", "artifact");

    private static Func<string, bool> Target(string target) => target switch
    {
        "root" => p => p.StartsWith("root", StringComparison.Ordinal),
        "manifest" => p => p.StartsWith("channels/", StringComparison.Ordinal),
        _ => p => p.StartsWith("agent/", StringComparison.Ordinal),
    };

    private protected TestFeed Feed => _feed;

    private protected FeedClient Client(params string[] feeds) =>
        new(feeds, [_feed.RootKey.PublicKey], FeedLayout.DefaultProduct, "stable", allowInsecureHttp: false, _feed.Clock, trustFile: _feed.TrustFile, limits: HostileCases.Limits,
            open: Open);

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
        Assert.Contains(Expected(behaviour, expected), e.Message, StringComparison.Ordinal);
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

/// <summary>The contract with HttpClient (the agent, belay-release, Windows' belay.exe).</summary>
public sealed class HostileFeedTests : HostileFeedContract;

/// <summary>The contract with curl doing the transfers (belay on Linux, macOS and SmartOS).</summary>
public sealed class CurlHostileFeedTests : HostileFeedContract
{
    private static readonly FetchTool Curl = FetchTool.Find("/usr/bin:/bin") is { Name: "curl" } curl ? curl : throw new InvalidOperationException("these tests need curl in /usr/bin");

    protected override Func<string, FeedSource>? Open => url => new CommandFeedSource(new Uri(url), Curl);

    /// <summary>A client whose curl is a script in <paramref name="bin"/> that runs <paramref name="before"/>, then the real curl.</summary>
    private FeedClient ThroughWrapper(TempDir bin, HostileFeedServer server, string before)
    {
        var wrapper = bin.Combine("curl");
        File.WriteAllText(wrapper, $"#!/bin/sh\n{before}\nexec /usr/bin/curl \"$@\"\n");
        File.SetUnixFileMode(wrapper, (UnixFileMode)0b111_000_000);
        return new FeedClient([server.Url], [Feed.RootKey.PublicKey], FeedLayout.DefaultProduct, "stable", allowInsecureHttp: false, Feed.Clock,
            trustFile: Feed.TrustFile, limits: HostileCases.Limits, open: url => new CommandFeedSource(new Uri(url), new FetchTool("curl", wrapper)));
    }

    [Fact]
    public async Task AFirstCheckFetchesItsFourFilesInOneCurlRunAndTheArchiveInAnother()
    {
        using var bin = new TempDir("belay-curl-log-");
        var log = bin.Combine("runs.log");
        await using var server = new HostileFeedServer(Feed.Root);
        using var client = ThroughWrapper(bin, server, $"printf '%s\\n' \"$*\" >> '{log}'");
        var check = await client.CheckAsync(0, null, TestContext.Current.CancellationToken);
        Assert.Equal(1, check.Manifest!.Sequence);
        var runs = File.ReadAllLines(log);
        Assert.Single(runs);
        Assert.Equal(4, runs[0].Split(" --next ").Length);
        Assert.Equal(4, server.Requests);

        using var download = new MemoryStream();
        await check.Source.CopyArtifactAsync(check.Manifest.Releases[0].Artifacts["linux-x64"].Path, download, 1_000_000, TestContext.Current.CancellationToken);
        Assert.Equal(200_000, download.Length);
        Assert.Equal(2, File.ReadAllLines(log).Length);
    }

    [Fact]
    public async Task ACurlWhoseOneRunSaysNothingUsableMeansEachFileIsFetchedAlone()
    {
        // As a curl older than 7.75 would: no %{exitcode} line after each transfer (here: nothing at all for the one run).
        using var bin = new TempDir("belay-curl-old-");
        var log = bin.Combine("runs.log");
        await using var server = new HostileFeedServer(Feed.Root);
        using var client = ThroughWrapper(bin, server, $"printf 'run\\n' >> '{log}'\ncase \"$*\" in *' --next '*) printf 'junk'; exit 0 ;; esac");
        var check = await client.CheckAsync(0, null, TestContext.Current.CancellationToken);
        Assert.Equal(1, check.Manifest!.Sequence);
        Assert.Equal(5, File.ReadAllLines(log).Length);
    }

    [Fact]
    public async Task WhenTheOneRunFailsEachFileIsFetchedAloneAndTheCheckStillVerifies()
    {
        await using var server = new HostileFeedServer(Feed.Root) { Behaviour = Hostility.Intermittent500, Targets = p => p == "channels/stable.json.minisig" };
        using var client = Client(server.Url);
        // The manifest's signature answers 500 in the one run; fetched alone, the next request for it succeeds.
        var check = await client.CheckAsync(0, null, TestContext.Current.CancellationToken);
        Assert.Equal(1, check.Manifest!.Sequence);
    }

    protected override string Expected(Hostility behaviour, string withHttpClient) => behaviour switch
    {
        // curl refuses it from the Content-Length, as HttpClient does, in its own words.
        Hostility.HugeContentLength => "announces more than the",
        Hostility.ShortBody => "closed the connection before the whole response arrived (curl: (18)",
        _ => withHttpClient,
    };
}

/// <summary>The contract with busybox's wget doing the transfers (Alpine, a minimal host without curl).</summary>
public sealed class WgetHostileFeedTests : HostileFeedContract
{
    private readonly TempDir _bin = new("belay-wget-");

    public WgetHostileFeedTests()
    {
        File.CreateSymbolicLink(_bin.Combine("wget"), "/usr/bin/busybox");
    }

    protected override Func<string, FeedSource>? Open =>
        url => new CommandFeedSource(new Uri(url), FetchTool.Find(_bin.Path) ?? throw new InvalidOperationException("no wget link"));

    // wget cannot be asked to refuse a body by its Content-Length: it reads what comes (here half the file, then
    // the connection closes), so the huge announcement ends as a failed transfer, not a refused one.
    protected override int ExpectedExitCode(Hostility b) => b == Hostility.HugeContentLength ? ExitCodes.FeedUnreachable : base.ExpectedExitCode(b);

    protected override string Expected(Hostility behaviour, string withHttpClient) => behaviour switch
    {
        Hostility.HugeContentLength or Hostility.ShortBody => "cannot reach",
        _ => withHttpClient,
    };

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _bin.Dispose();
        }
        base.Dispose(disposing);
    }

    [Fact]
    public void TheLinkIsTakenForBusybox() => Assert.True(FetchTool.Find(_bin.Path)!.IsBusybox);
}

/// <summary>The contract with GNU wget doing the transfers (a host with wget and no curl).</summary>
public sealed class GnuWgetHostileFeedTests : HostileFeedContract
{
    protected override Func<string, FeedSource>? Open => url => new CommandFeedSource(new Uri(url), new FetchTool("wget", "/usr/bin/wget"));

    protected override int ExpectedExitCode(Hostility b) => b == Hostility.HugeContentLength ? ExitCodes.FeedUnreachable : base.ExpectedExitCode(b);

    protected override string Expected(Hostility behaviour, string withHttpClient) => behaviour switch
    {
        Hostility.HugeContentLength or Hostility.ShortBody => "cannot reach",
        _ => withHttpClient,
    };
}
