using System.Net;
using Belay.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Belay.Serving.Tests;

/// <summary>MapFeed: a feed served under a prefix by an application with endpoints of its own,
/// as the hub will.</summary>
public sealed class FeedEndpointsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_feed_under_a_prefix_is_served_beside_the_other_endpoints_with_the_same_rules()
    {
        using var temp = new TempDir();
        Directory.CreateDirectory(temp.Combine("feed", "channels"));
        File.WriteAllText(temp.Combine("feed", "channels", "stable.json"), """{"sequence":1}""");
        File.WriteAllText(temp.Combine("secret.txt"), "secret");
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddRoutingCore();
        await using var app = builder.Build();
        app.MapFeed("/feed", temp.Combine("feed"));
        app.MapGet("/health", () => "ok");
        await app.StartAsync(Ct);
        var baseUri = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single() + "/");
        using var client = new HttpClient { BaseAddress = baseUri };

        using var manifest = await client.GetAsync("feed/channels/stable.json", Ct);
        using var again = new HttpRequestMessage(HttpMethod.Get, "feed/channels/stable.json");
        again.Headers.IfNoneMatch.Add(manifest.Headers.ETag!);
        using var notModified = await client.SendAsync(again, Ct);
        using var post = await client.PostAsync("feed/channels/stable.json", new StringContent("x"), Ct);
        using var root = await client.GetAsync("feed/", Ct);
        var health = await client.GetStringAsync("health", Ct);
        var escape = await RawAsync(baseUri, "GET /feed/../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        Assert.Equal(HttpStatusCode.OK, manifest.StatusCode);
        Assert.Equal("application/json", manifest.Content.Headers.ContentType?.ToString());
        Assert.Equal("no-cache", manifest.Headers.CacheControl?.ToString());
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, root.StatusCode);
        Assert.Equal("ok", health);
        // Kestrel's Path has the dot segment removed ("/secret.txt"), so routing does not even
        // reach the feed: 404; a path under the prefix is checked raw (FeedRequestPathTests).
        Assert.Matches("^HTTP/1.1 (400|404) ", escape);
        Assert.DoesNotContain("secret", escape.Split("\r\n\r\n")[1], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("feed")]
    [InlineData("/feed/")]
    [InlineData("/../feed")]
    [InlineData("/f%20d")]
    [InlineData("/.well-known")]
    public async Task A_prefix_that_is_not_plain_is_refused_when_mapped(string prefix)
    {
        using var temp = new TempDir();
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        await using var app = builder.Build();

        Assert.Throws<ArgumentException>(() => app.MapFeed(prefix, temp.Path));
    }

    private static async Task<string> RawAsync(Uri baseUri, string request)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(baseUri.Host, baseUri.Port, Ct);
        var stream = tcp.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(request), Ct);
        return await RunningFeedServer.ReadToCloseAsync(stream);
    }
}
