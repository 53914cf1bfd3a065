using Belay.Core.Feed;
using Belay.TestSupport;

namespace Belay.Core.Tests.Feed;

/// <summary>
/// How `belay` (built without HttpClient) runs curl or wget: the arguments it gives, what it reads back from
/// their standard error, and the tool it picks. The transfers themselves, against a server that misbehaves in
/// every way, are HostileFeedTests' curl and wget classes.
/// </summary>
public sealed class CommandFeedSourceTests
{
    private static readonly Uri Https = new("https://feed.example.com/belay/channels/stable.json");

    [Fact]
    public void CurlIsAskedForHttpsOnlyWithTheCapAndNoConfigFile()
    {
        var args = new FetchTool("curl", "/usr/bin/curl").GetArguments(Https, null, 4096, allowPlainHttp: false);
        Assert.Equal("-q", args[0]);
        Assert.Equal(Https.AbsoluteUri, args[^1]);
        Assert.Equal("=https", args[args.ToList().IndexOf("--proto") + 1]);
        Assert.Equal("=https", args[args.ToList().IndexOf("--proto-redir") + 1]);
        Assert.Equal("4096", args[args.ToList().IndexOf("--max-filesize") + 1]);
        Assert.Contains("--fail", args);
        Assert.DoesNotContain("--header", args);
        Assert.DoesNotContain("--compressed", args);
    }

    [Fact]
    public void APlainHttpFeedMayRedirectToHttpsAndAnEtagIsSentOnlyWhenItIsOneLine()
    {
        var curl = new FetchTool("curl", "/usr/bin/curl");
        var args = curl.GetArguments(new Uri("http://127.0.0.1:8080/x"), "\"abc\"", 10, allowPlainHttp: true);
        Assert.Equal("=http,https", args[args.ToList().IndexOf("--proto") + 1]);
        Assert.Equal("If-None-Match: \"abc\"", args[args.ToList().IndexOf("--header") + 1]);
        Assert.DoesNotContain("--header", curl.GetArguments(Https, "\"abc\"\r\nX-Evil: 1", 10, allowPlainHttp: false));
    }

    [Fact]
    public void BusyboxWgetGetsOnlyTheOptionsItHasAndGnuWgetReadsNoWgetrcAndDoesNotRetry()
    {
        var busybox = new FetchTool("wget", "/bin/wget") { IsBusybox = true }.GetArguments(Https, null, 10, allowPlainHttp: false);
        Assert.Equal(["-q", "-S", "-O", "-", "-U", "belay", Https.AbsoluteUri], busybox);
        var gnu = new FetchTool("wget", "/usr/bin/wget").GetArguments(Https, null, 10, allowPlainHttp: false);
        Assert.Equal("--no-config", gnu[0]);
        Assert.Contains("--tries=1", gnu);
        Assert.Contains("--max-redirect=5", gnu);
    }

    [Fact]
    public void TheLastResponseCountsAfterRedirects()
    {
        var stderr = "HTTP/1.1 301 Moved Permanently\r\nLocation: https://b.example/x\r\nETag: \"old\"\r\n\r\n"
            + "HTTP/2 200 \r\netag: W/\"v2\"\r\ndate: Tue, 08 Dec 2026 03:06:49 GMT\r\ncontent-length: 5\r\n\r\n";
        var r = ToolResponse.Parse("curl", 0, stderr);
        Assert.Equal(200, r.Status);
        Assert.Equal("W/\"v2\"", r.ETag);
        Assert.Equal(new DateTimeOffset(2026, 12, 8, 3, 6, 49, TimeSpan.Zero), r.Date);
        Assert.Null(r.Error);
    }

    [Fact]
    public void CurlsErrorLineAndItsExitCodesAreRead()
    {
        var missing = ToolResponse.Parse("curl", 22, "HTTP/1.1 404 Not Found\r\nServer: nginx\r\n\r\ncurl: (22) The requested URL returned error: 404\n");
        Assert.Equal(404, missing.Status);
        Assert.Equal("Not Found", missing.Reason);
        Assert.Equal("curl: (22) The requested URL returned error: 404", missing.Error);
        Assert.True(ToolResponse.Parse("curl", 63, "curl: (63) Maximum file size exceeded").TooLarge);
        Assert.True(ToolResponse.Parse("curl", 60, "curl: (60) SSL certificate problem: unable to get local issuer certificate").TlsFailure);
        Assert.False(ToolResponse.Parse("wget", 60, "").TlsFailure);
        Assert.Equal("cannot connect (curl ended with exit code 7)", ToolResponse.Parse("curl", 7, "").Describe(new FetchTool("curl", "/usr/bin/curl")));
        Assert.Equal("wget ended with exit code 4", ToolResponse.Parse("wget", 4, "").Describe(new FetchTool("wget", "/usr/bin/wget")));
    }

    [Fact]
    public void WgetsIndentedHeadersAndErrorLineAreRead()
    {
        var r = ToolResponse.Parse("wget", 1, "  HTTP/1.1 500 Internal Server Error\n  Content-Length: 0\nwget: server returned error: HTTP/1.1 500 Internal Server Error\n");
        Assert.Equal(500, r.Status);
        Assert.Equal("wget: server returned error: HTTP/1.1 500 Internal Server Error", r.Error);
    }

    [Fact]
    public void CurlIsPreferredThenWgetAndNeitherIsAClearError()
    {
        using var dir = new TempDir("belay-fetch-tool-");
        Assert.Null(FetchTool.Find(dir.Path));
        var wget = dir.Combine("wget");
        File.WriteAllText(wget, "#!/bin/sh\n");
        File.SetUnixFileMode(wget, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Assert.Equal(new FetchTool("wget", wget), FetchTool.Find(dir.Path));
        var curl = dir.Combine("curl");
        File.WriteAllText(curl, "#!/bin/sh\n");
        Assert.Equal("wget", FetchTool.Find(dir.Path)!.Name);
        File.SetUnixFileMode(curl, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Assert.Equal(new FetchTool("curl", curl), FetchTool.Find(dir.Path));
    }

    [Fact]
    public void AFeedPathThatLeavesTheFeedIsRefusedBeforeAnythingRuns()
    {
        using var source = new CommandFeedSource(new Uri("http://127.0.0.1:9/"), new FetchTool("curl", "/nonexistent/curl"));
        var e = Assert.Throws<BelayException>(() => source.CopyToAsync("../etc/passwd", Stream.Null, 10, CancellationToken.None).GetAwaiter().GetResult());
        Assert.Equal(ExitCodes.TrustFailure, e.ExitCode);
    }
}
