using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Release;

/// <summary>A published feed read over HTTP: from belay-release serve and from a real nginx.</summary>
public sealed partial class ServeTests : IDisposable
{
    private readonly ReleaseWorkspace _ws = new();

    public ServeTests()
    {
        Assert.Equal(0, _ws.Init().ExitCode);
        Assert.Equal(0, _ws.Publish("1.0.0").ExitCode);
    }

    public void Dispose() => _ws.Dispose();

    [Fact]
    public async Task VerifyFeedPassesOverHttpFromBelayReleaseServeAndItAnswers304ToAKnownETag()
    {
        var psi = new ProcessStartInfo(BelayBinaries.Release) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "serve", "--feed", _ws.Feed, "--listen", "127.0.0.1:0" })
        {
            psi.ArgumentList.Add(a);
        }
        using var server = Process.Start(psi)!;
        try
        {
            var line = await server.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
            var match = ServingLine().Match(line ?? "");
            Assert.True(match.Success, $"unexpected first line: {line}");
            var url = match.Groups[1].Value;

            var verify = _ws.VerifyFeed(url);
            Assert.True(verify.ExitCode == 0, verify.ToString());

            using var http = new HttpClient();
            using var first = await http.GetAsync(new Uri(url + "channels/stable.json"), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            var etag = first.Headers.ETag;
            Assert.NotNull(etag);
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(url + "channels/stable.json"));
            request.Headers.IfNoneMatch.Add(etag);
            using var second = await http.SendAsync(request, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);

            // The NativeAOT build keeps HEAD and Range working (the file result is trimmed with it).
            using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri(url + "channels/stable.json")), TestContext.Current.CancellationToken);
            Assert.Equal(etag, head.Headers.ETag);
            Assert.Equal(first.Content.Headers.ContentLength, head.Content.Headers.ContentLength);
            using var part = new HttpRequestMessage(HttpMethod.Get, new Uri(url + "root.json"));
            part.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(0, 0);
            using var partial = await http.SendAsync(part, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
            Assert.Equal("{", await partial.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }
        finally
        {
            server.Kill();
            await server.WaitForExitAsync(TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public void ServeOnAnAddressInUseSaysSoWithExitCode1AndNoStackTrace()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var address = taken.LocalEndpoint.ToString()!;

        var serve = ReleaseWorkspace.Release("serve", "--feed", _ws.Feed, "--listen", address);

        Assert.Equal(1, serve.ExitCode);
        Assert.Contains($"cannot listen on {address}: ", serve.StdErr, StringComparison.Ordinal);
        Assert.Contains("--listen", serve.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", serve.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void VerifyFeedPassesOverHttpFromNginx()
    {
        using var nginx = NginxServer.Start(_ws.Feed);
        var verify = _ws.VerifyFeed(nginx.BaseUri.AbsoluteUri);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("all 4 checks passed", verify.StdOut, StringComparison.Ordinal); // root, channel, the .tar.gz and its compact form
    }

    [Fact]
    public void VerifyFeedSaysTheFeedIsUnreachableWithExitCode4()
    {
        var verify = _ws.VerifyFeed("http://127.0.0.1:9/");
        Assert.Equal(4, verify.ExitCode);
        Assert.Contains("cannot reach http://127.0.0.1:9/root.json", verify.StdOut, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"at (http://[^ ]+/) ")]
    private static partial Regex ServingLine();
}
