using System.Security.Cryptography;
using Belay.TestSupport;

namespace Belay.Serving.Tests;

public sealed class ContentETagsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_ETag_is_the_quoted_SHA256_of_the_content()
    {
        using var temp = new TempDir();
        var bytes = RandomNumberGenerator.GetBytes(300_000);
        var path = temp.Combine("a.tar.gz");
        File.WriteAllBytes(path, bytes);

        var etag = await ETagOf(new ContentETags(TimeProvider.System), path);

        Assert.Equal($"\"{Convert.ToHexStringLower(SHA256.HashData(bytes))}\"", etag);
    }

    [Fact]
    public async Task An_old_file_is_hashed_once_and_then_served_from_the_cache()
    {
        using var temp = new TempDir();
        var path = temp.Combine("a.tar.gz");
        File.WriteAllText(path, "artifact");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddHours(-1));
        var etags = new ContentETags(TimeProvider.System);

        var first = await ETagOf(etags, path);
        var second = await ETagOf(etags, path);

        Assert.Equal(first, second);
        Assert.Equal(1, etags.HashCount);
    }

    [Fact]
    public async Task A_file_younger_than_the_racy_window_is_hashed_on_every_request()
    {
        // Its mtime tick may not be over: a same-size rewrite could keep (size, mtime).
        using var temp = new TempDir();
        var path = temp.Combine("stable.json");
        File.WriteAllText(path, "{\"a\":1}");
        var mtime = DateTime.UtcNow.AddHours(-1);
        File.SetLastWriteTimeUtc(path, mtime);
        var clock = new FixedClock(new DateTimeOffset(mtime, TimeSpan.Zero) + ContentETags.RacyWindow / 2);
        var etags = new ContentETags(clock);

        var first = await ETagOf(etags, path);
        File.WriteAllText(path, "{\"a\":2}");
        File.SetLastWriteTimeUtc(path, mtime);
        var second = await ETagOf(etags, path);

        Assert.NotEqual(first, second);
        Assert.Equal(2, etags.HashCount);
    }

    private static async Task<string> ETagOf(ContentETags etags, string path)
    {
        using var handle = File.OpenHandle(path);
        return await etags.GetAsync(path, handle, RandomAccess.GetLength(handle), File.GetLastWriteTimeUtc(handle), Ct);
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
