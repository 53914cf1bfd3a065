using System.Net;
using Belay.TestSupport;

namespace Belay.Serving.Tests;

/// <summary>The nginx fixture that end-to-end tests serve feeds with, and its agreement with
/// the configuration docs/feed.md recommends.</summary>
public sealed class NginxServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Nginx_serves_a_feed_file_with_an_ETag_and_answers_304_to_If_None_Match()
    {
        using var feed = new TempDir();
        Directory.CreateDirectory(feed.Combine("channels"));
        File.WriteAllText(feed.Combine("channels", "stable.json"), """{"schema":1}""");
        using var nginx = NginxServer.Start(feed.Path);
        using var client = new HttpClient { BaseAddress = nginx.BaseUri };

        using var first = await client.GetAsync("channels/stable.json", Ct);
        Assert.True(first.StatusCode == HttpStatusCode.OK, nginx.Diagnostics);
        Assert.Equal("""{"schema":1}""", await first.Content.ReadAsStringAsync(Ct));
        var etag = Assert.IsType<System.Net.Http.Headers.EntityTagHeaderValue>(first.Headers.ETag);
        Assert.Equal("application/json", first.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no-cache", first.Headers.CacheControl?.ToString());

        using var again = new HttpRequestMessage(HttpMethod.Get, "channels/stable.json");
        again.Headers.IfNoneMatch.Add(etag);
        using var second = await client.SendAsync(again, Ct);

        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);
        Assert.Equal(etag, second.Headers.ETag);
        Assert.Empty(await second.Content.ReadAsByteArrayAsync(Ct));
    }

    [Theory]
    [InlineData("root.json.minisig", "text/plain; charset=utf-8", "no-cache")]
    [InlineData("install.sh", "text/plain; charset=utf-8", "no-cache")]
    [InlineData("agent/1.4.2/belay-agent-1.4.2-linux-x64.tar.gz", "application/gzip", "public, max-age=31536000, immutable")]
    [InlineData("agent/1.4.2/belay-agent-1.4.2-win-x64.zip", "application/zip", "public, max-age=31536000, immutable")]
    [InlineData("agent/1.4.2/belay-agent-1.4.2-linux-x64.tar.x86.br", "application/octet-stream", "public, max-age=31536000, immutable")]
    [InlineData("agent/1.4.2/belay-agent-1.4.2-linux-arm64.tar.a64.br", "application/octet-stream", "public, max-age=31536000, immutable")]
    [InlineData("bootstrap/1.4.2/belay-linux-x64", "application/octet-stream", "public, max-age=31536000, immutable")]
    [InlineData("bootstrap/1.4.2/SHA256SUMS", "text/plain; charset=utf-8", "public, max-age=31536000, immutable")]
    public async Task Nginx_sends_the_same_types_and_caching_as_the_embedded_server(string path, string type, string cache)
    {
        using var feed = new TempDir();
        var file = feed.Combine(path.Split('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, "content");
        using var nginx = NginxServer.Start(feed.Path);
        using var client = new HttpClient { BaseAddress = nginx.BaseUri };

        using var response = await client.GetAsync(path, Ct);

        Assert.True(response.StatusCode == HttpStatusCode.OK, nginx.Diagnostics);
        Assert.Equal(type, response.Content.Headers.ContentType?.ToString());
        Assert.Equal(cache, response.Headers.CacheControl?.ToString());
        // Served as they are: a compact archive (.br) with Content-Encoding: br would be decoded by clients that honour it.
        Assert.Empty(response.Content.Headers.ContentEncoding);
    }

    [Theory]
    [InlineData("agent/")]
    [InlineData("agent")]
    [InlineData(".publish-lock")]
    [InlineData("missing.json")]
    public async Task Nginx_gives_404_for_directories_hidden_and_missing_files(string path)
    {
        using var feed = new TempDir();
        Directory.CreateDirectory(feed.Combine("agent", "1.0.0"));
        File.WriteAllText(feed.Combine(".publish-lock"), "x");
        using var nginx = NginxServer.Start(feed.Path);
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = nginx.BaseUri };

        using var response = await client.GetAsync(path, Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public void The_fixture_uses_the_nginx_blocks_that_docs_feed_md_recommends()
    {
        var doc = File.ReadAllText(Path.Combine(RepoRoot(), "docs", "feed.md"));

        Assert.True(ContainsLines(doc, NginxServer.CacheControlMap), "docs/feed.md lacks NginxServer.CacheControlMap");
        Assert.True(ContainsLines(doc, NginxServer.FeedDirectives), "docs/feed.md lacks NginxServer.FeedDirectives");
    }

    /// <summary>Whether <paramref name="block"/>'s lines appear consecutively in
    /// <paramref name="text"/>, ignoring indentation.</summary>
    private static bool ContainsLines(string text, string block)
    {
        static string[] Lines(string s) => s.ReplaceLineEndings("\n").Split('\n').Select(l => l.Trim()).ToArray();
        var haystack = Lines(text);
        var needle = Lines(block);
        for (var i = 0; i + needle.Length <= haystack.Length; i++)
        {
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle))
            {
                return true;
            }
        }
        return false;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Belay.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException("no Belay.slnx above " + AppContext.BaseDirectory);
    }
}
