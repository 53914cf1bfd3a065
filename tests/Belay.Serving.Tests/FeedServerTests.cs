using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Belay.Serving.Tests;

/// <summary>The HTTP semantics of the feed server, seen through HttpClient.</summary>
public sealed class FeedServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_file_is_served_with_its_body_length_type_and_validators()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        var manifest = """{ "schema": 1, "channel": "stable" }""";
        feed.Write("channels/stable.json", manifest);

        using var response = await feed.Client.GetAsync("channels/stable.json", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(manifest, await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(Encoding.UTF8.GetByteCount(manifest), response.Content.Headers.ContentLength);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.ToString());
        var sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(manifest)));
        Assert.Equal($"\"{sha}\"", response.Headers.ETag?.ToString());
        Assert.False(response.Headers.ETag!.IsWeak);
        var mtime = File.GetLastWriteTimeUtc(Path.Combine(feed.FeedRoot, "channels", "stable.json"));
        Assert.Equal(new DateTimeOffset(mtime.AddTicks(-(mtime.Ticks % TimeSpan.TicksPerSecond)), TimeSpan.Zero),
            response.Content.Headers.LastModified);
        Assert.True(response.Headers.CacheControl?.NoCache);
    }

    [Fact]
    public async Task Head_answers_with_the_headers_of_get_and_no_body()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.gz", new byte[12345]);
        var path = "agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.gz";

        using var get = await feed.Client.GetAsync(path, Ct);
        using var head = await feed.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path), Ct);

        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(12345, head.Content.Headers.ContentLength);
        Assert.Equal(get.Headers.ETag, head.Headers.ETag);
        Assert.Equal("application/gzip", head.Content.Headers.ContentType?.MediaType);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync(Ct));

        // And on the wire: no body bytes follow the head.
        var raw = await feed.RawAsync($"HEAD /{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        Assert.EndsWith("\r\n\r\n", raw);
        Assert.Contains("Content-Length: 12345\r\n", raw);
    }

    [Fact]
    public async Task A_matching_If_None_Match_gets_304_with_the_ETag_and_no_body()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("root.json", """{"keys":[]}""");
        using var first = await feed.Client.GetAsync("root.json", Ct);
        var etag = first.Headers.ETag!;

        using var request = new HttpRequestMessage(HttpMethod.Get, "root.json");
        request.Headers.IfNoneMatch.Add(etag);
        using var second = await feed.Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);
        Assert.Equal(etag, second.Headers.ETag);
        Assert.True(second.Headers.CacheControl?.NoCache);
        Assert.Empty(await second.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task A_file_rewritten_with_the_same_size_at_once_gets_200_and_a_new_ETag()
    {
        // Same size, within one mtime tick: only a content ETag can tell these apart.
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("channels/stable.json", """{"sequence":1}""");
        using var first = await feed.Client.GetAsync("channels/stable.json", Ct);
        feed.Write("channels/stable.json", """{"sequence":2}""");

        using var request = new HttpRequestMessage(HttpMethod.Get, "channels/stable.json");
        request.Headers.IfNoneMatch.Add(first.Headers.ETag!);
        using var second = await feed.Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("""{"sequence":2}""", await second.Content.ReadAsStringAsync(Ct));
        Assert.NotEqual(first.Headers.ETag, second.Headers.ETag);
    }

    [Theory]
    [InlineData("*", HttpStatusCode.NotModified)]
    [InlineData("\"other\", W/{0}", HttpStatusCode.NotModified)]
    [InlineData("W/{0}", HttpStatusCode.NotModified)]
    [InlineData("\"other\", \"another\"", HttpStatusCode.OK)]
    [InlineData("not-quoted", HttpStatusCode.OK)]
    public async Task If_None_Match_honours_lists_star_and_weak_comparison(string field, HttpStatusCode expected)
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("install.sh", "#!/bin/sh\necho hi\n");
        using var first = await feed.Client.GetAsync("install.sh", Ct);
        var etag = first.Headers.ETag!.Tag;

        using var request = new HttpRequestMessage(HttpMethod.Get, "install.sh");
        request.Headers.TryAddWithoutValidation("If-None-Match", string.Format(System.Globalization.CultureInfo.InvariantCulture, field, etag));
        using var response = await feed.Client.SendAsync(request, Ct);

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task If_Modified_Since_at_or_after_Last_Modified_gets_304_unless_If_None_Match_disagrees()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("root.json.minisig", "untrusted comment: x\nRWQ=\n");
        using var first = await feed.Client.GetAsync("root.json.minisig", Ct);
        var lastModified = first.Content.Headers.LastModified!.Value;

        using var since = new HttpRequestMessage(HttpMethod.Get, "root.json.minisig");
        since.Headers.IfModifiedSince = lastModified;
        using var notModified = await feed.Client.SendAsync(since, Ct);

        using var both = new HttpRequestMessage(HttpMethod.Get, "root.json.minisig");
        both.Headers.IfModifiedSince = lastModified;
        both.Headers.IfNoneMatch.Add(new EntityTagHeaderValue("\"stale\""));
        using var full = await feed.Client.SendAsync(both, Ct);

        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal(HttpStatusCode.OK, full.StatusCode);
    }

    [Theory]
    [InlineData("\"x\", \"a,b\", {0}", HttpStatusCode.NotModified)] // a comma inside a quoted tag
    [InlineData("{0}, \"x\"", HttpStatusCode.NotModified)]
    [InlineData("W/{0}, *", HttpStatusCode.NotModified)]
    [InlineData("{1}", HttpStatusCode.OK)] // entity-tags compare case-sensitively
    [InlineData("\"x\" {0}", HttpStatusCode.NotModified)] // no comma: read leniently, and the client does hold the tag
    [InlineData("{0}x", HttpStatusCode.OK)]
    [InlineData("", HttpStatusCode.OK)]
    public async Task If_None_Match_gets_304_only_for_a_tag_the_client_holds(string field, HttpStatusCode expected)
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("root.json", "{}");
        using var first = await feed.Client.GetAsync("root.json", Ct);
        var etag = first.Headers.ETag!.Tag;

        using var request = new HttpRequestMessage(HttpMethod.Get, "root.json");
        request.Headers.TryAddWithoutValidation("If-None-Match",
            string.Format(System.Globalization.CultureInfo.InvariantCulture, field, etag, etag.ToUpperInvariant()));
        using var response = await feed.Client.SendAsync(request, Ct);

        Assert.Equal(expected, response.StatusCode);
    }

    [Theory]
    [InlineData("{0:r}", HttpStatusCode.NotModified)] // IMF-fixdate: the Last-Modified the client saw
    [InlineData("{1:r}", HttpStatusCode.NotModified)] // a second later
    [InlineData("{2:r}", HttpStatusCode.OK)] // a second earlier
    [InlineData("{0:dddd, dd-MMM-yy HH:mm:ss} GMT", HttpStatusCode.NotModified)] // RFC 850
    [InlineData("{0:ddd MMM d HH:mm:ss yyyy}", HttpStatusCode.NotModified)] // asctime
    [InlineData("yesterday", HttpStatusCode.OK)]
    public async Task If_Modified_Since_compares_whole_seconds_in_every_date_form(string field, HttpStatusCode expected)
    {
        await using var feed = await RunningFeedServer.StartAsync();
        var path = feed.Write("install.sh", "#!/bin/sh\n");
        var hourAgo = DateTime.UtcNow.AddHours(-1); // If-Modified-Since in the future is ignored
        var second = hourAgo.AddTicks(-(hourAgo.Ticks % TimeSpan.TicksPerSecond));
        File.SetLastWriteTimeUtc(path, second.AddMilliseconds(500)); // half a second past

        using var request = new HttpRequestMessage(HttpMethod.Get, "install.sh");
        request.Headers.TryAddWithoutValidation("If-Modified-Since", string.Format(System.Globalization.CultureInfo.InvariantCulture,
            field, second, second.AddSeconds(1), second.AddSeconds(-1)));
        using var response = await feed.Client.SendAsync(request, Ct);

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task A_failed_If_Match_gets_412_and_nothing_cacheable()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("agent/1.0.0/a.tar.gz", "content");

        using var request = new HttpRequestMessage(HttpMethod.Get, "agent/1.0.0/a.tar.gz");
        request.Headers.IfMatch.Add(new EntityTagHeaderValue("\"stale\""));
        using var response = await feed.Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.PreconditionFailed, response.StatusCode);
        Assert.True(response.Headers.CacheControl?.NoStore);
    }

    [Theory]
    [InlineData("bytes=0-3", "0123", "bytes 0-3/10")]
    [InlineData("bytes=6-", "6789", "bytes 6-9/10")]
    [InlineData("bytes=-2", "89", "bytes 8-9/10")]
    [InlineData("bytes=8-100", "89", "bytes 8-9/10")]
    public async Task A_byte_range_gets_206_with_that_part_only(string range, string body, string contentRange)
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("agent/1.0.0/a.tar.gz", "0123456789");

        using var request = new HttpRequestMessage(HttpMethod.Get, "agent/1.0.0/a.tar.gz");
        request.Headers.TryAddWithoutValidation("Range", range);
        using var response = await feed.Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(body, await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(contentRange, response.Content.Headers.ContentRange?.ToString());
        Assert.Equal(["bytes"], response.Headers.AcceptRanges);
        Assert.Equal(FeedContentPolicy.Immutable, response.Headers.CacheControl?.ToString());
    }

    [Fact]
    public async Task A_range_past_the_end_gets_416_with_the_length()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("agent/1.0.0/a.tar.gz", "0123456789");

        using var request = new HttpRequestMessage(HttpMethod.Get, "agent/1.0.0/a.tar.gz");
        request.Headers.TryAddWithoutValidation("Range", "bytes=10-");
        using var response = await feed.Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, response.StatusCode);
        Assert.Equal("bytes */10", response.Content.Headers.ContentRange?.ToString());
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(Ct));
        Assert.True(response.Headers.CacheControl?.NoStore);
    }

    [Fact]
    public async Task If_Range_with_the_current_ETag_resumes_and_with_an_old_one_sends_the_whole_file()
    {
        // A download resumed after a publish must not splice two versions together.
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("install.sh", "0123456789");
        using var first = await feed.Client.GetAsync("install.sh", Ct);
        var etag = first.Headers.ETag!;

        using var resume = new HttpRequestMessage(HttpMethod.Get, "install.sh");
        resume.Headers.TryAddWithoutValidation("Range", "bytes=5-");
        resume.Headers.IfRange = new RangeConditionHeaderValue(etag);
        using var resumed = await feed.Client.SendAsync(resume, Ct);
        feed.Write("install.sh", "abcdefghij");
        using var stale = new HttpRequestMessage(HttpMethod.Get, "install.sh");
        stale.Headers.TryAddWithoutValidation("Range", "bytes=5-");
        stale.Headers.IfRange = new RangeConditionHeaderValue(etag);
        using var whole = await feed.Client.SendAsync(stale, Ct);

        Assert.Equal(HttpStatusCode.PartialContent, resumed.StatusCode);
        Assert.Equal("56789", await resumed.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.OK, whole.StatusCode);
        Assert.Equal("abcdefghij", await whole.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Head_with_a_range_announces_the_part_and_sends_nothing()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("agent/1.0.0/a.tar.gz", "0123456789");

        var raw = await feed.RawAsync("HEAD /agent/1.0.0/a.tar.gz HTTP/1.1\r\nHost: x\r\nRange: bytes=2-5\r\nConnection: close\r\n\r\n");

        Assert.Equal(206, RunningFeedServer.StatusOf(raw));
        Assert.Contains("Content-Length: 4\r\n", raw);
        Assert.Contains("Content-Range: bytes 2-5/10\r\n", raw);
        Assert.EndsWith("\r\n\r\n", raw);
    }

    [Fact]
    public async Task Methods_other_than_GET_and_HEAD_get_405_with_Allow()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("root.json", "{}");

        using var post = await feed.Client.PostAsync("root.json", new StringContent(new string('x', 100_000)), Ct);
        using var delete = await feed.Client.DeleteAsync("root.json", Ct);
        var options = await feed.RawAsync("OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Assert.Equal(["GET", "HEAD"], post.Content.Headers.Allow);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, delete.StatusCode);
        Assert.Equal(405, RunningFeedServer.StatusOf(options));
        Assert.Contains("Allow: GET, HEAD\r\n", options);
        Assert.True(File.Exists(Path.Combine(feed.FeedRoot, "root.json")));
    }

    [Theory]
    [InlineData("missing.json")]
    [InlineData("")]
    [InlineData("agent/")]
    [InlineData("agent")]
    [InlineData(".publish-lock")]
    public async Task Missing_files_directories_and_hidden_files_get_404_and_no_listing(string path)
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("agent/1.0.0/a.tar.gz", "x");
        feed.Write(".publish-lock", "x");

        using var response = await feed.Client.GetAsync(path, Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.DoesNotContain("1.0.0", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("root.json", "application/json", "no-cache")]
    [InlineData("root.json.minisig", "text/plain; charset=utf-8", "no-cache")]
    [InlineData("channels/beta.json", "application/json", "no-cache")]
    [InlineData("channels/beta.json.minisig", "text/plain; charset=utf-8", "no-cache")]
    [InlineData("install.sh", "text/plain; charset=utf-8", "no-cache")]
    [InlineData("install.ps1", "text/plain; charset=utf-8", "no-cache")]
    [InlineData("agent/1.4.2/belay-agent-1.4.2-linux-x64.tar.gz", "application/gzip", "public, max-age=31536000, immutable")]
    [InlineData("agent/1.4.2/belay-agent-1.4.2-linux-x64.tar.gz.minisig", "text/plain; charset=utf-8", "public, max-age=31536000, immutable")]
    [InlineData("agent/1.4.2/belay-agent-1.4.2-win-x64.zip", "application/zip", "public, max-age=31536000, immutable")]
    [InlineData("agent/1.4.2/belay-agent-1.4.2-linux-x64.tar.x86.br", "application/octet-stream", "public, max-age=31536000, immutable")]
    [InlineData("agent/1.4.2/belay-agent-1.4.2-linux-arm64.tar.a64.br", "application/octet-stream", "public, max-age=31536000, immutable")]
    [InlineData("bootstrap/1.4.2/belay-win-x64.exe", "application/octet-stream", "public, max-age=31536000, immutable")]
    [InlineData("bootstrap/1.4.2/belay-linux-x64", "application/octet-stream", "public, max-age=31536000, immutable")]
    [InlineData("bootstrap/1.4.2/belay-linux-x64.gz", "application/gzip", "public, max-age=31536000, immutable")]
    [InlineData("bootstrap/1.4.2/SHA256SUMS", "text/plain; charset=utf-8", "public, max-age=31536000, immutable")]
    [InlineData("packages/belay-1.4.2-x64.msi", "application/x-msi", "no-cache")]
    public async Task Manifests_must_revalidate_and_versioned_artifacts_are_immutable(string path, string type, string cache)
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write(path, "content");

        using var response = await feed.Client.GetAsync(path, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(type, response.Content.Headers.ContentType?.ToString());
        Assert.Equal(cache, response.Headers.CacheControl?.ToString());
        // Served as they are: a compact archive (.br) with Content-Encoding: br would be decoded by clients that honour it.
        Assert.Empty(response.Content.Headers.ContentEncoding);
    }

    [Fact]
    public async Task Many_concurrent_requests_all_get_their_own_file()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        var bodies = Enumerable.Range(0, 40)
            .Select(i => RandomNumberGenerator.GetBytes(i % 4 == 0 ? 1 << 20 : 1000 + i)).ToArray();
        for (var i = 0; i < bodies.Length; i++)
        {
            feed.Write($"agent/{i}/a.tar.gz", bodies[i]);
        }

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(async n =>
        {
            var i = n % bodies.Length;
            using var client = new HttpClient { BaseAddress = feed.BaseUri }; // separate connections too
            var body = await (n % 2 == 0 ? feed.Client : client).GetByteArrayAsync($"agent/{i}/a.tar.gz", Ct);
            return body.AsSpan().SequenceEqual(bodies[i]);
        }));

        Assert.All(results, Assert.True);
    }

    [Fact]
    public async Task Each_request_writes_one_access_log_line()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("root.json", "{}");

        (await feed.Client.GetAsync("root.json", Ct)).Dispose();
        (await feed.Client.GetAsync("nope.json", Ct)).Dispose();
        await feed.RawAsync("GET /../x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        // A line is written once its response is out, so the last one may trail the client a little.
        for (var i = 0; i < 100 && feed.Log.Count < 3; i++)
        {
            await Task.Delay(20, Ct);
        }
        var lines = feed.Log.ToArray();
        Assert.Equal(3, lines.Length);
        Assert.Contains(lines, l => Regex.IsMatch(l, """^127\.0\.0\.1:\d+ "GET /root\.json HTTP/1\.1" 200 2 \d+ms$"""));
        Assert.Contains(lines, l => Regex.IsMatch(l, """^127\.0\.0\.1:\d+ "GET /nope\.json HTTP/1\.1" 404 \d+ \d+ms \(not found\)$"""));
        Assert.Contains(lines, l => Regex.IsMatch(l, """^127\.0\.0\.1:\d+ "GET /\.\./x HTTP/1\.1" 400 \d+ \d+ms \(dot segment\)$"""));
    }

    [Fact]
    public async Task Port_zero_binds_a_port_the_OS_chose_and_reports_it()
    {
        await using var feed = await RunningFeedServer.StartAsync();

        Assert.NotEqual(0, feed.Server.LocalEndPoint.Port);
        Assert.Equal(IPAddress.Loopback, feed.Server.LocalEndPoint.Address);
        using var tcp = feed.Connect();
        Assert.True(tcp.Connected);
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("127.8.9.10", true)]
    [InlineData("::1", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData("0.0.0.0", false)]
    [InlineData("::", false)]
    [InlineData("192.168.1.10", false)]
    public void IsLoopback_is_true_only_for_loopback_addresses(string address, bool expected)
    {
        Assert.Equal(expected, FeedServer.IsLoopback(new IPEndPoint(IPAddress.Parse(address), 8080)));
    }

    [Fact]
    public async Task Starting_over_a_missing_directory_fails_before_binding()
    {
        using var temp = new Belay.TestSupport.TempDir();
        await using var server = new FeedServer(temp.Combine("absent"), new IPEndPoint(IPAddress.Loopback, 0));

        await Assert.ThrowsAsync<DirectoryNotFoundException>(() => server.StartAsync(Ct));
        Assert.Throws<InvalidOperationException>(() => server.LocalEndPoint);
    }
}
