using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Belay.Core.Hub;
using Belay.Hub.Admin;
using Belay.Hub.Cluster;
using Belay.Hub.Feed;
using Belay.Hub.Storage;
using Belay.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Belay.Hub.Tests.Feed;

/// <summary>
/// POST /api/v1/feed and GET /feed/… on the hub as it is composed (HubServer, Kestrel on loopback,
/// SQLite): who may push, what an oversized upload gets, and that the pushed feed is served.
/// </summary>
public sealed class FeedPushHttpTests : IAsyncDisposable
{
    private readonly TempDir _dir = new("belay-hub-push-");
    private readonly List<WebApplication> _apps = [];

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private async Task<(Uri Url, string Admin, string Viewer, IHubStore Store)> StartAsync(FeedHosting? feed)
    {
        var data = _dir.Combine($"data-{_apps.Count}");
        HubServer.CreatePrivateDirectory(data);
        var store = new SqliteHubStore(data);
        await store.MigrateAsync(Cancel);
        var options = ServeOptions.Parse(data, "127.0.0.1:0", null, null, false);
        var app = HubServer.Build(options, new Serilog.LoggerConfiguration().CreateLogger(), store, new SingleNode(), feed);
        _apps.Add(app);
        await app.StartAsync(Cancel);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        var admin = new Administration(store, TimeProvider.System);
        await admin.AddUserAsync("alice", "admin", null, "test", Cancel);
        await admin.AddUserAsync("bob", "viewer", null, "test", Cancel);
        var adminToken = (await admin.CreateApiTokenAsync("alice", "ci", null, "test", Cancel)).Token;
        var viewerToken = (await admin.CreateApiTokenAsync("bob", "ci", null, "test", Cancel)).Token;
        return (new Uri(address.TrimEnd('/') + "/"), adminToken, viewerToken, store);
    }

    private static async Task<(HttpStatusCode Status, FeedPushAnswer? Answer, string Body)> PostAsync(Uri hub, string? token, byte[] bundle)
    {
        using var http = new HttpClient { BaseAddress = hub };
        using var request = new HttpRequestMessage(HttpMethod.Post, FeedPush.Path) { Content = new ByteArrayContent(bundle) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(FeedPush.ContentType);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        using var response = await http.SendAsync(request, Cancel);
        var body = await response.Content.ReadAsStringAsync(Cancel);
        FeedPushAnswer? answer = null;
        try
        {
            answer = JsonSerializer.Deserialize(body, FeedPushJsonContext.Default.FeedPushAnswer);
        }
        catch (JsonException)
        {
        }
        return (response.StatusCode, answer, body);
    }

    [Fact]
    public async Task WithoutATokenAPushGets401AndAViewersToken403AndNothingIsServed()
    {
        using var feeds = new PushFeeds();
        var (hub, _, viewer, _) = await StartAsync(feeds.Hosting);
        var bundle = PushFeeds.Bundle(feeds.NewFeed(null, "1.0.0"));
        var anonymous = await PostAsync(hub, null, bundle);
        Assert.True(anonymous.Status == HttpStatusCode.Unauthorized, anonymous.Body);
        var viewerPush = await PostAsync(hub, viewer, bundle);
        Assert.True(viewerPush.Status == HttpStatusCode.Forbidden, viewerPush.Body);
        Assert.Equal(0, feeds.Publications.CurrentGeneration);
        using var http = new HttpClient { BaseAddress = hub };
        using var root = await http.GetAsync("feed/root.json", Cancel);
        Assert.Equal(HttpStatusCode.NotFound, root.StatusCode);
    }

    [Fact]
    public async Task AnAdminsPushIsServedUnderFeedWithTheFeedServersRulesAndAudited()
    {
        using var feeds = new PushFeeds();
        var (hub, admin, _, store) = await StartAsync(feeds.Hosting);
        var feed = feeds.NewFeed(null, "1.0.0");
        var push = await PostAsync(hub, admin, PushFeeds.Bundle(feed));
        Assert.True(push.Status == HttpStatusCode.OK && push.Answer?.Generation == 1, push.Body);
        Assert.Contains(push.Answer!.Report, line => line.StartsWith("ok    channels/stable.json", StringComparison.Ordinal));

        using var http = new HttpClient { BaseAddress = hub };
        using var manifest = await http.GetAsync("feed/channels/stable.json", Cancel);
        Assert.Equal(HttpStatusCode.OK, manifest.StatusCode);
        Assert.Equal(File.ReadAllBytes(Path.Combine(feed, "channels/stable.json")), await manifest.Content.ReadAsByteArrayAsync(Cancel));
        Assert.Equal("no-cache", manifest.Headers.CacheControl?.ToString());
        using var conditional = new HttpRequestMessage(HttpMethod.Get, "feed/channels/stable.json");
        conditional.Headers.IfNoneMatch.Add(manifest.Headers.ETag!);
        using var notModified = await http.SendAsync(conditional, Cancel);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        using var escape = await http.GetAsync("feed/channels%2Fstable.json", Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, escape.StatusCode);
        using var post = await http.PostAsync("feed/root.json", new ByteArrayContent([]), Cancel);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);

        var audit = await store.ListAuditAsync(10, "feed.push", Cancel);
        Assert.Equal("alice", Assert.Single(audit).Actor);
    }

    [Fact]
    public async Task ANextPushKeepsTheETagOfWhatDidNotChangeAndChangesTheETagOfWhatDid()
    {
        using var feeds = new PushFeeds();
        var (hub, admin, _, _) = await StartAsync(feeds.Hosting);
        var feed = feeds.NewFeed(null, "1.0.0");
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(hub, admin, PushFeeds.Bundle(feed))).Status);
        using var http = new HttpClient { BaseAddress = hub };
        async Task<string> ETag(string path)
        {
            using var response = await http.GetAsync("feed/" + path, Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return response.Headers.ETag!.Tag;
        }
        var root = await ETag("root.json");
        var stable = await ETag("channels/stable.json");

        // The next release, pushed from a copy of the feed that lost its files' times (a checkout, a CI
        // artifact): the hub's ETags are of the content (serving/ContentETags.cs), so root.json keeps its
        // ETag (hosts do not fetch it again) and the manifest's changes, whatever the files' times say.
        feeds.Publish(feed, "1.1.0");
        File.SetLastWriteTimeUtc(Path.Combine(feed, "root.json"), DateTime.UtcNow.AddMinutes(5));
        var second = await PostAsync(hub, admin, PushFeeds.Bundle(feed));
        Assert.True(second.Status == HttpStatusCode.OK && second.Answer?.Generation == 2, second.Body);

        Assert.Equal(root, await ETag("root.json"));
        Assert.NotEqual(stable, await ETag("channels/stable.json"));
        using var conditional = new HttpRequestMessage(HttpMethod.Get, "feed/channels/stable.json");
        conditional.Headers.IfNoneMatch.Add(new EntityTagHeaderValue(stable));
        using var changed = await http.SendAsync(conditional, Cancel);
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        Assert.Contains("1.1.0", await changed.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARefusedPushSaysWhyAndAnOversizedOne413()
    {
        using var feeds = new PushFeeds(maxUpload: 16 * 1024);
        var (hub, admin, _, _) = await StartAsync(feeds.Hosting);
        var feed = feeds.NewFeed(null, "1.0.0");
        File.WriteAllText(Path.Combine(feed, "agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.gz"), "agent 6.6.6");
        var refused = await PostAsync(hub, admin, PushFeeds.Bundle(feed));
        Assert.True(refused.Status == HttpStatusCode.UnprocessableEntity && refused.Answer?.Code == FeedPush.TrustCode, refused.Body);
        Assert.Contains(refused.Answer!.Report, line => line.StartsWith("FAIL  agent/1.0.0/", StringComparison.Ordinal) && line.Contains("SHA-256", StringComparison.Ordinal));

        var big = feeds.NewFeed(null);
        feeds.Publish(big, "1.0.0", artifactBytes: 256 * 1024);
        var oversized = await PostAsync(hub, admin, PushFeeds.Bundle(big));
        Assert.True(oversized.Status == HttpStatusCode.RequestEntityTooLarge && oversized.Answer?.Code == FeedPush.TooLargeCode, oversized.Body);
        Assert.Equal(0, feeds.Publications.CurrentGeneration);
    }

    [Fact]
    public async Task AHubWithoutAFeedSaysHowToServeOne()
    {
        var (hub, admin, _, _) = await StartAsync(null);
        var push = await PostAsync(hub, admin, [1, 2, 3]);
        Assert.True(push.Status == HttpStatusCode.NotFound && push.Answer?.Code == FeedPush.NoFeedCode, push.Body);
        Assert.Contains("--feed-dir", push.Answer!.Error, StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
        _dir.Dispose();
    }
}
