using Belay.Core.Archives;
using Belay.Core.Deploy;
using Belay.Core.Feed;
using Belay.TestSupport;

namespace Belay.Core.Tests.Deploy;

/// <summary>Fetching an app's archive for this host (core/Deploy/AppArtifactFetcher.cs).</summary>
public sealed class AppArtifactFetcherTests : IDisposable
{
    private readonly DeployFeed _feed = new();
    private readonly string _downloads;

    public AppArtifactFetcherTests()
    {
        _downloads = _feed.Combine("downloads");
        Directory.CreateDirectory(_downloads);
    }

    public void Dispose() => _feed.Dispose();

    private async Task<FetchedAppArtifact> Fetch(GroupDocument document, string rid = "linux-x64", string app = "shop")
    {
        using var source = FeedSource.Open(_feed.Root);
        return await AppArtifactFetcher.FetchAsync(source, app, document.Apps[app], rid, _downloads, CancellationToken.None);
    }

    [Fact]
    public async Task TheArchiveArrivesVerifiedOwnerOnlyAndNamedSoTheExtractorReadsIt()
    {
        var document = _feed.Deploy("web", "shop", "1.0");
        var fetched = await Fetch(document);
        Assert.Equal("any", fetched.Rid);
        Assert.EndsWith(".tar.gz", fetched.Path, StringComparison.Ordinal);
        Assert.Equal(_downloads, Path.GetDirectoryName(fetched.Path));
        Assert.Equal(document.Apps["shop"].Artifacts["any"].Size, new FileInfo(fetched.Path).Length);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(fetched.Path));
        }
        var release = _feed.Combine("release");
        ArchiveExtractor.Extract(fetched.Path, release);
        Assert.True(File.Exists(Path.Combine(release, "belay-app.conf")));
    }

    [Fact]
    public async Task TheHostsOwnRidWinsOverAny()
    {
        _feed.Deploy("web", "shop", "1.0", rid: "linux-x64");
        var document = _feed.Publisher.Deploy(new Belay.Core.Publishing.DeployRequest(_feed.Root, "web", _feed.DeployKey, "shop", "1.0",
            new Dictionary<string, string> { ["any"] = _feed.Archive("shop", "1.0", "any") })).Document;
        Assert.Equal("linux-x64", (await Fetch(document, "linux-x64")).Rid);
        Assert.Equal("any", (await Fetch(document, "osx-arm64")).Rid);
    }

    [Fact]
    public async Task ATamperedArchiveIsRefusedAndNothingIsLeftBehind()
    {
        var document = _feed.Deploy("web", "shop", "1.0");
        var archive = _feed.File(document.Apps["shop"].Artifacts["any"].Path);
        var bytes = File.ReadAllBytes(archive);
        bytes[^5] ^= 0xff;
        File.WriteAllBytes(archive, bytes);
        var e = await Assert.ThrowsAsync<BelayException>(() => Fetch(document));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("has SHA-256", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_downloads));
    }

    [Fact]
    public async Task AnArchiveLargerThanSignedIsStoppedAtTheSignedSize()
    {
        var document = _feed.Deploy("web", "shop", "1.0");
        var archive = _feed.File(document.Apps["shop"].Artifacts["any"].Path);
        File.AppendAllText(archive, new string('x', 100_000));
        var e = await Assert.ThrowsAsync<BelayException>(() => Fetch(document));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("larger than the signed size", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_downloads));
    }

    [Fact]
    public async Task AnEntryPointingAtAnotherAppsArchiveIsRefused()
    {
        var cart = _feed.Deploy("web", "cart", "1.0");
        var document = _feed.Deploy("web", "shop", "1.0");
        // What a forged entry would say (the document check refuses it too; the fetcher does not rely on that).
        document.Apps["shop"].Artifacts["any"] = cart.Apps["cart"].Artifacts["any"];
        var e = await Assert.ThrowsAsync<BelayException>(() => Fetch(document));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("not apps/shop/1.0/shop-1.0-any.tar.gz", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAppWithNoArchiveForThisHostSaysWhatItHas()
    {
        var document = _feed.Deploy("web", "shop", "1.0", rid: "win-x64");
        var e = await Assert.ThrowsAsync<BelayException>(() => Fetch(document, "linux-x64"));
        Assert.Equal(ExitCodes.Error, e.ExitCode);
        Assert.Contains("no archive for linux-x64 or any (it has: win-x64)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnArchiveTooLargeForTheDiskIsRefusedBeforeAByteIsFetched()
    {
        var document = _feed.Deploy("web", "shop", "1.0");
        var free = Core.IO.DiskSpace.Available(_downloads);
        Assert.NotNull(free);
        document.Apps["shop"].Artifacts["any"].Size = free.Value + 1;
        var e = await Assert.ThrowsAsync<BelayException>(() => Fetch(document));
        Assert.Contains("not enough disk space for the archive of shop 1.0", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_downloads));
    }

    [Fact]
    public async Task AnUnreachableMirrorIsSkippedForTheDownload()
    {
        var document = _feed.Deploy("web", "shop", "1.0");
        using var mirrors = new MirrorFeedSource([FeedSource.Open(_feed.Combine("gone")), FeedSource.Open(_feed.Root)]);
        var fetched = await AppArtifactFetcher.FetchAsync(mirrors, "shop", document.Apps["shop"], "linux-x64", _downloads, CancellationToken.None);
        Assert.True(File.Exists(fetched.Path));
    }

    /// <summary>A path-traversal archive, as a stolen deploy key could publish it (written straight into the feed).</summary>
    private GroupDocument PublishTraversal(string entryName)
    {
        var document = _feed.Deploy("web", "shop", "1.0");
        var archive = _feed.File(document.Apps["shop"].Artifacts["any"].Path);
        using (var file = File.Create(archive))
        using (var gzip = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionLevel.Fastest))
        using (var tar = new System.Formats.Tar.TarWriter(gzip, System.Formats.Tar.TarEntryFormat.Ustar))
        {
            tar.WriteEntry(new System.Formats.Tar.UstarTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "belay-app.conf") { DataStream = new MemoryStream("[app]\nexec = /bin/true\n"u8.ToArray()) });
            tar.WriteEntry(new System.Formats.Tar.UstarTarEntry(System.Formats.Tar.TarEntryType.RegularFile, entryName) { DataStream = new MemoryStream("owned"u8.ToArray()) });
        }
        var entry = document.Apps["shop"].Artifacts["any"];
        entry.Size = new FileInfo(archive).Length;
        entry.Sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(archive)));
        _feed.WriteGroup(document, _feed.DeployKey);
        return document;
    }

    [Theory]
    [InlineData("../../escaped")]
    [InlineData("/tmp/belay-absolute-escape")]
    public async Task APathTraversalArchiveWhoseHashMatchesIsStillRefusedByTheExtractor(string entryName)
    {
        var document = PublishTraversal(entryName);
        var fetched = await Fetch(document);
        var release = _feed.Combine("releases", "shop", "1.0");
        Directory.CreateDirectory(Path.GetDirectoryName(release)!);
        var e = Assert.Throws<BelayException>(() => ArchiveExtractor.Extract(fetched.Path, release));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.False(Directory.Exists(release));
        Assert.False(File.Exists(_feed.Combine("escaped")));
        Assert.False(File.Exists("/tmp/belay-absolute-escape"));

        // And the publisher refuses to publish such an archive in the first place.
        var refused = Assert.Throws<BelayException>(() => _feed.Publisher.Deploy(new Belay.Core.Publishing.DeployRequest(_feed.Root, "staging", _feed.DeployKey, "shop", "1.0",
            new Dictionary<string, string> { ["any"] = _feed.File(document.Apps["shop"].Artifacts["any"].Path) })));
        Assert.Contains("would be refused by every host", refused.Message, StringComparison.Ordinal);
    }
}
