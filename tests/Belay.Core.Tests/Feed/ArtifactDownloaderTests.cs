using System.Security.Cryptography;
using Belay.Core.Feed;
using Belay.TestSupport;

namespace Belay.Core.Tests.Feed;

public sealed class ArtifactDownloaderTests : IDisposable
{
    private const string ArtifactPath = "agent/1.4.2/belay-agent-1.4.2-linux-x64.tar.gz";

    private readonly TempDir _dir = new();
    private readonly DirectoryFeedSource _feed;

    public ArtifactDownloaderTests()
    {
        Directory.CreateDirectory(FeedRoot);
        Directory.CreateDirectory(Downloads);
        _feed = new DirectoryFeedSource(FeedRoot);
    }

    public void Dispose()
    {
        _feed.Dispose();
        _dir.Dispose();
    }

    private string FeedRoot => _dir.Combine("feed");
    private string Downloads => _dir.Combine("downloads");

    /// <summary>Puts <paramref name="content"/> in the feed and returns the manifest's entry for it.</summary>
    private ArtifactEntry Publish(byte[] content)
    {
        var path = Path.Combine(FeedRoot, ArtifactPath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        return new ArtifactEntry { Path = ArtifactPath, Sha256 = Convert.ToHexStringLower(SHA256.HashData(content)), Size = content.Length };
    }

    /// <summary>Changes the feed's file behind the manifest's back.</summary>
    private void Replace(byte[] content) => File.WriteAllBytes(Path.Combine(FeedRoot, ArtifactPath), content);

    private async Task<BelayException> AssertRefusedAsync(ArtifactEntry artifact, params string[] fragments)
    {
        var e = await Assert.ThrowsAsync<BelayException>(() => ArtifactDownloader.DownloadAsync(_feed, artifact, Downloads, TestContext.Current.CancellationToken));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        foreach (var fragment in fragments)
        {
            Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(Downloads));
        return e;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(81920)]
    [InlineData(1_000_003)]
    public async Task AnArtifactOfExactlyTheSignedSizeAndHashIsDownloaded(int size)
    {
        var content = RandomNumberGenerator.GetBytes(size);
        var artifact = Publish(content);

        var path = await ArtifactDownloader.DownloadAsync(_feed, artifact, Downloads, TestContext.Current.CancellationToken);

        Assert.Equal(Downloads, Path.GetDirectoryName(path));
        Assert.StartsWith(".belay-agent-1.4.2-linux-x64.tar.gz.", Path.GetFileName(path), StringComparison.Ordinal);
        Assert.Equal(content, File.ReadAllBytes(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal([path], Directory.EnumerateFileSystemEntries(Downloads));
    }

    [Fact]
    public async Task EachDownloadGetsItsOwnFile()
    {
        var artifact = Publish(RandomNumberGenerator.GetBytes(100));
        var first = await ArtifactDownloader.DownloadAsync(_feed, artifact, Downloads, TestContext.Current.CancellationToken);
        var second = await ArtifactDownloader.DownloadAsync(_feed, artifact, Downloads, TestContext.Current.CancellationToken);
        Assert.NotEqual(first, second);
        Assert.Equal(File.ReadAllBytes(first), File.ReadAllBytes(second));
    }

    [Theory]
    [InlineData(1000, 1)]
    [InlineData(1000, 500_000)]
    [InlineData(0, 1)]
    public async Task AFileLargerThanTheSignedSizeIsRefused(int size, int extra)
    {
        var content = RandomNumberGenerator.GetBytes(size);
        var artifact = Publish(content);
        Replace([.. content, .. RandomNumberGenerator.GetBytes(extra)]);
        await AssertRefusedAsync(artifact, "larger than the signed size", $"{size} bytes");
    }

    [Fact]
    public async Task ASourceThatSendsWithoutEndIsStoppedAtTheSignedSize()
    {
        var artifact = Publish(RandomNumberGenerator.GetBytes(10_000));
        using var endless = new EndlessFeedSource();
        var e = await Assert.ThrowsAsync<BelayException>(() => ArtifactDownloader.DownloadAsync(endless, artifact, Downloads, TestContext.Current.CancellationToken));
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
        Assert.Contains("larger than the signed size", e.Message, StringComparison.Ordinal);
        Assert.True(endless.Sent < 1_000_000, $"sent {endless.Sent} bytes");
        Assert.Empty(Directory.EnumerateFileSystemEntries(Downloads));
    }

    [Theory]
    [InlineData(1000, 999)]
    [InlineData(1000, 0)]
    public async Task AFileSmallerThanTheSignedSizeIsRefusedAsTruncated(int size, int got)
    {
        var content = RandomNumberGenerator.GetBytes(size);
        var artifact = Publish(content);
        Replace(content[..got]);
        await AssertRefusedAsync(artifact, $"truncated: got {got} of {size} bytes");
    }

    [Fact]
    public async Task AFileWithAnotherHashIsRefusedNamingBothHashes()
    {
        var content = RandomNumberGenerator.GetBytes(5000);
        var artifact = Publish(content);
        var evil = RandomNumberGenerator.GetBytes(5000);
        Replace(evil);
        await AssertRefusedAsync(artifact, Convert.ToHexStringLower(SHA256.HashData(evil)), artifact.Sha256);
    }

    [Fact]
    public async Task AnUpperCaseHashInTheManifestStillMatches()
    {
        var artifact = Publish(RandomNumberGenerator.GetBytes(10));
        artifact.Sha256 = artifact.Sha256.ToUpperInvariant();
        var path = await ArtifactDownloader.DownloadAsync(_feed, artifact, Downloads, TestContext.Current.CancellationToken);
        Assert.True(File.Exists(path));
    }

    [Theory]
    [InlineData("../outside.tar.gz", 10, "0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData(ArtifactPath, -1, "0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData(ArtifactPath, 10, "not-a-hash")]
    public async Task AMalformedArtifactEntryIsRefusedBeforeAnythingIsWritten(string path, long size, string sha256)
    {
        Publish(RandomNumberGenerator.GetBytes(10));
        await AssertRefusedAsync(new ArtifactEntry { Path = path, Size = size, Sha256 = sha256 });
    }

    [Fact]
    public async Task AMissingFileIsFeedUnreachableAndLeavesNothing()
    {
        var artifact = Publish(RandomNumberGenerator.GetBytes(10));
        File.Delete(Path.Combine(FeedRoot, ArtifactPath));
        var e = await Assert.ThrowsAsync<FeedFileNotFoundException>(() => ArtifactDownloader.DownloadAsync(_feed, artifact, Downloads, TestContext.Current.CancellationToken));
        Assert.Equal(ExitCodes.FeedUnreachable, e.ExitCode);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Downloads));
    }

    [Fact]
    public async Task CancellationMidDownloadLeavesNothing()
    {
        var artifact = Publish(RandomNumberGenerator.GetBytes(10_000));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        using var slow = new EndlessFeedSource { CancelAfterFirstChunk = cts };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ArtifactDownloader.DownloadAsync(slow, artifact, Downloads, cts.Token));
        Assert.True(slow.Sent > 0);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Downloads));
    }

    [Fact]
    public async Task AMissingDownloadDirectoryIsAnError()
    {
        var artifact = Publish(RandomNumberGenerator.GetBytes(10));
        var e = await Assert.ThrowsAsync<BelayException>(() => ArtifactDownloader.DownloadAsync(_feed, artifact, _dir.Combine("nowhere"), TestContext.Current.CancellationToken));
        Assert.Equal(ExitCodes.Error, e.ExitCode);
    }

    /// <summary>A feed source that ignores its cap and sends bytes until told to stop.</summary>
    private sealed class EndlessFeedSource : FeedSource
    {
        public long Sent { get; private set; }
        public CancellationTokenSource? CancelAfterFirstChunk { get; init; }

        public override string Location => "endless://";

        public override string Describe(string relativePath) => "endless://" + relativePath;

        public override Task<FetchResult> FetchAsync(string relativePath, string? etag, long maxBytes, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public override async Task<long> CopyToAsync(string relativePath, Stream destination, long maxBytes, CancellationToken cancellationToken)
        {
            var chunk = new byte[4096];
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await destination.WriteAsync(chunk, cancellationToken);
                Sent += chunk.Length;
                if (CancelAfterFirstChunk is { } cts)
                {
                    await cts.CancelAsync();
                }
            }
        }
    }
}
