using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Belay.Serving.Tests;

/// <summary>The feed server seen through raw sockets: hostile paths, broken clients, keep-alive
/// and limits. HttpClient would normalise "/../" away before it reached the server. Kestrel
/// answers what it refuses itself (400, 408, 414, 431, 505) before the feed handler sees it;
/// either way the status is checked, and the secret never leaves.</summary>
public sealed class FeedServerConnectionTests
{
    private const string Secret = "TOP-SECRET-OUTSIDE-THE-FEED";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> TraversalTargets =>
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/agent/../../secret.txt",
        "/agent/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/agent%2f..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/secret.txt%00.json",
        "/%00",
        "//secret.txt",
        "/./secret.txt",
        "/C:/Windows/win.ini",
        "/c:%5cwindows%5cwin.ini",
        "/%c0%ae%c0%ae/secret.txt",
        "/%%32%65%%32%65/secret.txt",
        "http://localhost/../secret.txt",
        "secret.txt",
        "../secret.txt",
        "*",
        "/link-out/secret.txt",
        "/secret-link.txt",
    ];

    [Theory]
    [MemberData(nameof(TraversalTargets))]
    public async Task A_path_that_tries_to_leave_the_feed_is_refused_and_never_gets_the_file(string target)
    {
        await using var feed = await RunningFeedServer.StartAsync();
        File.WriteAllText(feed.Outside("secret.txt"), Secret);
        feed.Write("agent/1.0.0/a.tar.gz", "inside");
        if (!OperatingSystem.IsWindows())
        {
            Directory.CreateSymbolicLink(Path.Combine(feed.FeedRoot, "link-out"), feed.Outside(""));
            File.CreateSymbolicLink(Path.Combine(feed.FeedRoot, "secret-link.txt"), "../secret.txt");
        }

        var response = await feed.RawAsync($"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");

        // 405 is Kestrel's answer to a GET in authority-form ("secret.txt") or asterisk-form ("*").
        Assert.Contains(RunningFeedServer.StatusOf(response), new[] { 400, 404, 405 });
        Assert.DoesNotContain(Secret, response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_absolute_file_system_path_is_read_inside_the_feed_not_from_the_disk()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        var secret = feed.Outside("secret.txt");
        File.WriteAllText(secret, Secret);

        var response = await feed.RawAsync($"GET {secret.Replace('\\', '/')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        Assert.Contains(RunningFeedServer.StatusOf(response), new[] { 400, 404 });
        Assert.DoesNotContain(Secret, response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_symlink_that_stays_inside_the_feed_is_followed()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "symlinks need privileges on Windows");
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("agent/1.0.0/a.tar.gz", "inside");
        Directory.CreateSymbolicLink(Path.Combine(feed.FeedRoot, "agent", "latest"), "1.0.0");
        File.CreateSymbolicLink(Path.Combine(feed.FeedRoot, "current.tar.gz"), "agent/latest/a.tar.gz");

        using var viaDirectory = await feed.Client.GetAsync("agent/latest/a.tar.gz", Ct);
        using var viaFile = await feed.Client.GetAsync("current.tar.gz", Ct);

        Assert.Equal("inside", await viaDirectory.Content.ReadAsStringAsync(Ct));
        Assert.Equal("inside", await viaFile.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task A_symlink_loop_gets_404()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "symlinks need privileges on Windows");
        await using var feed = await RunningFeedServer.StartAsync();
        File.CreateSymbolicLink(Path.Combine(feed.FeedRoot, "a"), "b");
        File.CreateSymbolicLink(Path.Combine(feed.FeedRoot, "b"), "a");

        using var response = await feed.Client.GetAsync("a", Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task A_feed_root_reached_through_a_symlink_still_serves_its_files()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "symlinks need privileges on Windows");
        using var temp = new Belay.TestSupport.TempDir();
        Directory.CreateDirectory(temp.Combine("real"));
        File.WriteAllText(temp.Combine("real", "root.json"), "{}");
        Directory.CreateSymbolicLink(temp.Combine("alias"), temp.Combine("real"));
        await using var server = new FeedServer(temp.Combine("alias"), new IPEndPoint(IPAddress.Loopback, 0));
        await server.StartAsync(Ct);
        using var client = new HttpClient();

        var body = await client.GetStringAsync($"http://{server.LocalEndPoint}/root.json", Ct);

        Assert.Equal("{}", body);
    }

    [Fact]
    public async Task A_feed_root_that_is_a_link_is_followed_at_every_request_so_one_rename_switches_the_whole_feed()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "symlinks need privileges on Windows");
        using var temp = new Belay.TestSupport.TempDir();
        foreach (var generation in new[] { "1", "2" })
        {
            Directory.CreateDirectory(temp.Combine(generation, "channels"));
            File.WriteAllText(temp.Combine(generation, "channels", "stable.json"), "generation " + generation);
        }
        File.WriteAllText(temp.Combine("2", "only-in-2.json"), "new");
        Directory.CreateSymbolicLink(temp.Combine("current"), "1");
        await using var server = new FeedServer(temp.Combine("current"), new IPEndPoint(IPAddress.Loopback, 0));
        await server.StartAsync(Ct);
        using var client = new HttpClient { BaseAddress = new Uri($"http://{server.LocalEndPoint}/") };
        Assert.Equal("generation 1", await client.GetStringAsync("channels/stable.json", Ct));
        using (var missing = await client.GetAsync("only-in-2.json", Ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        // What the hub does after a push: a new link renamed over the old one.
        Directory.CreateSymbolicLink(temp.Combine(".next"), "2");
        Belay.Core.IO.Posix.Rename(temp.Combine(".next"), temp.Combine("current"));

        Assert.Equal("generation 2", await client.GetStringAsync("channels/stable.json", Ct));
        Assert.Equal("new", await client.GetStringAsync("only-in-2.json", Ct));
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_download_leaves_the_server_serving()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        var big = new byte[32 << 20]; // far more than the socket buffers hold
        big[^1] = 7;
        feed.Write("agent/1.0.0/big.tar.gz", big);
        feed.Write("root.json", "{}");

        for (var i = 0; i < 3; i++)
        {
            using var tcp = feed.Connect();
            var stream = tcp.GetStream();
            await stream.WriteAsync("GET /agent/1.0.0/big.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), Ct);
            var some = new byte[64 * 1024];
            var read = await stream.ReadAsync(some, Ct);
            Assert.StartsWith("HTTP/1.1 200 OK", Encoding.Latin1.GetString(some, 0, read));
            tcp.Client.LingerState = new LingerOption(true, 0); // close with RST, like a killed process
        }

        using var after = await feed.Client.GetAsync("root.json", Ct);
        var full = await feed.Client.GetByteArrayAsync("agent/1.0.0/big.tar.gz", Ct);

        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(big.Length, full.Length);
        Assert.Equal(7, full[^1]);
        for (var i = 0; i < 100 && !feed.Log.Any(l => l.Contains("aborted", StringComparison.Ordinal)); i++)
        {
            await Task.Delay(50, Ct);
        }
        Assert.Contains(feed.Log, l => l.Contains("big.tar.gz", StringComparison.Ordinal) && l.Contains(" aborted: ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Keep_alive_serves_pipelined_requests_in_order_on_one_connection()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("a.txt", "first");
        feed.Write("b.txt", "second");

        var response = await feed.RawAsync(
            "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n" +
            "HEAD /b.txt HTTP/1.1\r\nHost: x\r\n\r\n" +
            "GET /b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        var first = response.IndexOf("\r\n\r\nfirst", StringComparison.Ordinal);
        var head = response.IndexOf("HTTP/1.1 200", first, StringComparison.Ordinal);
        var last = response.IndexOf("\r\n\r\nsecond", head, StringComparison.Ordinal);
        Assert.True(first > 0 && head > first && last > head, response);
        Assert.EndsWith("\r\n\r\nsecond", response);
        Assert.Equal(3, feed.Log.Count);
    }

    [Fact]
    public async Task Http_1_0_gets_its_answer_and_the_connection_closed()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("a.txt", "first");

        var response = await feed.RawAsync("GET /a.txt HTTP/1.0\r\n\r\n");

        Assert.Equal(200, RunningFeedServer.StatusOf(response));
        Assert.EndsWith("\r\n\r\nfirst", response); // and RawAsync returned: the server closed
    }

    [Theory]
    [InlineData("GET /a.txt HTTP/1.1\r\n\r\n", 400)] // no Host
    [InlineData("GET /a.txt HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400)]
    [InlineData("GET /a.txt HTTP/2.0\r\nHost: x\r\n\r\n", 505)]
    [InlineData("GET /a.txt HTTP/3.0\r\nHost: x\r\n\r\n", 505)]
    [InlineData("GET /a.txt HTTPS/1.1\r\nHost: x\r\n\r\n", 400)]
    [InlineData("GET /a.txt http/1.1\r\nHost: x\r\n\r\n", 505)]
    [InlineData("GET /a.txt\r\nHost: x\r\n\r\n", 400)]
    [InlineData("GET  /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400)]
    [InlineData("G@T /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400)]
    [InlineData("GET /a\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n", 400)]
    [InlineData("GET /\u0001 HTTP/1.1\r\nHost: x\r\n\r\n", 400)]
    [InlineData("GET /a.txt HTTP/1.1\r\nHost : x\r\n\r\n", 400)]
    [InlineData("GET /a.txt HTTP/1.1\r\nHost: x\r\nX: v\u0000w\r\n\r\n", 400)]
    [InlineData("GET /a.txt HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", 400)]
    [InlineData("GET /a.txt HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400)]
    [InlineData("GET /a.txt HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400)]
    [InlineData("GET /a.txt HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400)]
    [InlineData("GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400)]
    [InlineData("GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400)]
    [InlineData("GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400)]
    [InlineData("GET /a.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: caf\u00e9\r\n\r\n", 400)] // obs-text
    [InlineData("GET /a.txt HTTP/1.1\nHost: x\n\n", 200)] // bare LF is allowed (RFC 9112 §2.2)
    [InlineData("\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200)] // a leading empty line is skipped
    public async Task Malformed_requests_are_refused_with_a_status(string request, int status)
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("a.txt", "first");

        var response = await feed.RawAsync(request + (status == 200 ? "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" : ""));

        Assert.Equal(status, RunningFeedServer.StatusOf(response));
        if (status != 200)
        {
            // Refused by Kestrel ("-" for the request line) or by the feed handler; logged either way.
            for (var i = 0; i < 100 && !feed.Log.Any(l => l.Contains($"\" {status} ", StringComparison.Ordinal)); i++)
            {
                await Task.Delay(50, Ct);
            }
            Assert.Contains(feed.Log, l => l.StartsWith("127.0.0.1:", StringComparison.Ordinal) && l.Contains($"\" {status} ", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_request_with_both_Content_Length_and_Transfer_Encoding_is_answered_once_and_the_connection_closed()
    {
        // RFC 9112 §6.1: such a request may be a smuggling attempt; whatever followed it on the
        // connection is not read as a request of its own.
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("a.txt", "first");
        feed.Write("b.txt", "second");

        var response = await feed.RawAsync("GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "0\r\n\r\nGET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n");

        Assert.Equal(200, RunningFeedServer.StatusOf(response));
        Assert.Contains("Connection: close\r\n", response, StringComparison.Ordinal);
        Assert.DoesNotContain("second", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_target_gets_400_and_the_connection_closed_and_the_log_escapes_it()
    {
        await using var feed = await RunningFeedServer.StartAsync();
        feed.Write("a.txt", "first");

        var response = await feed.RawAsync("GET /a%2fb\u0001 HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");

        Assert.Equal(400, RunningFeedServer.StatusOf(response));
        Assert.DoesNotContain("first", response, StringComparison.Ordinal);
        for (var i = 0; i < 100 && feed.Log.IsEmpty; i++)
        {
            await Task.Delay(50, Ct);
        }
        Assert.Contains(feed.Log, l => l.Contains("\"GET /a%2fb\\x01 HTTP/1.1\" 400 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Request_heads_over_the_limits_get_431_and_414()
    {
        await using var feed = await RunningFeedServer.StartAsync(new FeedServerLimits
        {
            MaxRequestHeadersBytes = 4096, MaxRequestLineBytes = 1024, MaxHeaderCount = 5,
        });

        var bigField = await feed.RawAsync($"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Big: {new string('a', 8000)}\r\n\r\n");
        var manyFields = await feed.RawAsync("GET /a.txt HTTP/1.1\r\nHost: x\r\n" + string.Concat(Enumerable.Range(0, 10).Select(i => $"X-{i}: v\r\n")) + "\r\n");
        var longLine = await feed.RawAsync($"GET /{new string('a', 2000)} HTTP/1.1\r\nHost: x\r\n\r\n");

        Assert.Equal(431, RunningFeedServer.StatusOf(bigField));
        Assert.Equal(431, RunningFeedServer.StatusOf(manyFields));
        Assert.Equal(414, RunningFeedServer.StatusOf(longLine));
    }

    [Fact]
    public async Task A_client_that_stalls_mid_head_gets_408_and_an_idle_one_is_closed_quietly()
    {
        await using var feed = await RunningFeedServer.StartAsync(new FeedServerLimits
        {
            RequestHeadersTimeout = TimeSpan.FromSeconds(1), KeepAliveTimeout = TimeSpan.FromSeconds(1),
        });

        using var stalled = feed.Connect();
        await stalled.GetStream().WriteAsync("GET /a.txt HTTP/1.1\r\nHost:"u8.ToArray(), Ct);
        var stalledResponse = await RunningFeedServer.ReadToCloseAsync(stalled.GetStream());
        using var idle = feed.Connect();
        var idleResponse = await RunningFeedServer.ReadToCloseAsync(idle.GetStream());

        Assert.Equal(408, RunningFeedServer.StatusOf(stalledResponse));
        Assert.Equal("", idleResponse);
    }

    [Fact]
    public async Task A_slowloris_that_trickles_its_head_gets_408_when_the_head_time_is_up()
    {
        // One byte at a time keeps a per-read timeout alive forever; the head timeout counts
        // from the first byte to the last.
        await using var feed = await RunningFeedServer.StartAsync(new FeedServerLimits { RequestHeadersTimeout = TimeSpan.FromSeconds(2) });
        using var tcp = feed.Connect();
        var stream = tcp.GetStream();
        await stream.WriteAsync("GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Slow: "u8.ToArray(), Ct);
        var first = new byte[4096];
        var read = stream.ReadAsync(first, Ct).AsTask();
        var sent = 0;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!read.IsCompleted && !deadline.IsCancellationRequested)
        {
            try
            {
                await stream.WriteAsync("a"u8.ToArray(), Ct);
                sent++;
            }
            catch (IOException)
            {
                break; // closed under us: the answer is already waiting
            }
            await Task.WhenAny(read, Task.Delay(200, Ct));
        }
        var n = await read.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.True(sent >= 5, $"only {sent} bytes trickled before the answer");
        Assert.Equal(408, RunningFeedServer.StatusOf(System.Text.Encoding.Latin1.GetString(first, 0, n)));
    }

    [Fact]
    public async Task A_client_that_stops_reading_its_download_is_cut_off_and_others_are_served()
    {
        await using var feed = await RunningFeedServer.StartAsync(new FeedServerLimits { SendTimeout = TimeSpan.FromSeconds(2) });
        feed.Write("agent/1.0.0/big.tar.gz", new byte[64 << 20]); // far more than the socket buffers hold
        feed.Write("root.json", "{}");
        using var stuck = feed.Connect();
        await stuck.GetStream().WriteAsync("GET /agent/1.0.0/big.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), Ct);

        for (var i = 0; i < 600 && !feed.Log.Any(l => l.Contains("big.tar.gz", StringComparison.Ordinal)); i++)
        {
            await Task.Delay(100, Ct);
        }
        using var other = await feed.Client.GetAsync("root.json", Ct);

        var line = Assert.Single(feed.Log, l => l.Contains("big.tar.gz", StringComparison.Ordinal));
        Assert.Matches(@"HTTP/1\.1"" 200 \d+ \d+ms \(no progress for 2 s: the client stopped reading\) aborted: ", line);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Fact]
    public async Task Connections_beyond_the_limit_are_closed_unanswered_until_a_slot_is_free()
    {
        await using var feed = await RunningFeedServer.StartAsync(new FeedServerLimits { MaxConnections = 2 });
        feed.Write("a.txt", "first");
        using var one = feed.Connect();
        using var two = feed.Connect();
        await one.GetStream().WriteAsync("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), Ct);
        await two.GetStream().WriteAsync("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), Ct);
        var buffer = new byte[4096];
        Assert.True(await one.GetStream().ReadAsync(buffer, Ct) > 0);
        Assert.True(await two.GetStream().ReadAsync(buffer, Ct) > 0);

        var third = await feed.RawAsync("GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", tolerateReset: true);
        Assert.Equal("", third);
        Assert.Contains(feed.Log, l => l.Contains("connection limit", StringComparison.Ordinal));

        one.Close();
        // The slot frees once the server has seen the close: poll, with a generous deadline.
        var answer = "";
        for (var i = 0; i < 200 && answer.Length == 0; i++)
        {
            answer = await feed.RawAsync("GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", tolerateReset: true);
            if (answer.Length == 0)
            {
                await Task.Delay(100, Ct);
            }
        }
        Assert.EndsWith("\r\n\r\nfirst", answer);
    }

    [Fact]
    public async Task Stop_ends_open_connections_and_refuses_new_ones()
    {
        var feed = await RunningFeedServer.StartAsync();
        var endPoint = feed.Server.LocalEndPoint;
        using var open = feed.Connect();

        await feed.Server.StopAsync().WaitAsync(TimeSpan.FromSeconds(10), Ct);

        // Cut: a FIN, or a reset where the server aborted a pending read.
        try
        {
            Assert.Equal(0, await open.GetStream().ReadAsync(new byte[16], Ct));
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
        }
        using var refused = new TcpClient();
        await Assert.ThrowsAnyAsync<SocketException>(() => refused.ConnectAsync(endPoint, Ct).AsTask());
        await feed.DisposeAsync();
    }
}
