using System.Net;
using Belay.Core;
using Belay.Hub.Web;

namespace Belay.Hub.Tests.Web;

public sealed class OptionsTests
{
    [Theory]
    [InlineData("127.0.0.1:7070", "127.0.0.1", 7070)]
    [InlineData("[::1]:0", "::1", 0)]
    [InlineData("localhost:8080", "127.0.0.1", 8080)]
    [InlineData("0.0.0.0:443", "0.0.0.0", 443)]
    public void ListenAddressesParse(string text, string address, int port)
    {
        Assert.True(ServeOptions.TryParseEndpoint(text, out var endpoint));
        Assert.Equal((IPAddress.Parse(address), port), (endpoint.Address, endpoint.Port));
    }

    [Theory]
    [InlineData("7070")]
    [InlineData("hub.example.com:443")]
    [InlineData("127.0.0.1:99999")]
    [InlineData("[::1]")]
    public void NonsenseIsAUsageError(string text) =>
        Assert.Equal(ExitCodes.Usage, Assert.Throws<BelayException>(() => ServeOptions.Parse("/tmp/x", text, null, null, false)).ExitCode);

    [Fact]
    public void ANonLoopbackAddressNeedsTlsOrInsecureHttp()
    {
        var error = Assert.Throws<BelayException>(() => ServeOptions.Parse("/tmp/x", "0.0.0.0:7070", null, null, false));
        Assert.Contains("--insecure-http", error.Message, StringComparison.Ordinal);
        Assert.False(ServeOptions.Parse("/tmp/x", "0.0.0.0:7070", null, null, true).Tls);
        Assert.True(ServeOptions.Parse("/tmp/x", "0.0.0.0:7070", "c.pem", "k.pem", false).Tls);
        Assert.Throws<BelayException>(() => ServeOptions.Parse("/tmp/x", "127.0.0.1:7070", "c.pem", null, false));
    }

    [Theory]
    [InlineData("/hosts/x", "/hosts/x")]
    [InlineData("/", "/")]
    [InlineData("", "/")]
    [InlineData("//evil.example/", "/")]
    [InlineData("/\\evil.example/", "/")]
    [InlineData("https://evil.example/", "/")]
    [InlineData("javascript:alert(1)", "/")]
    public void AfterLoginOnlyAPathOnThisHubIsFollowed(string next, string expected) => Assert.Equal(expected, PageEndpoints.SafeNext(next));

    [Fact]
    public void EveryPageRendersWithItsValuesEncoded()
    {
        var html = Pages.Render("login.html", "Log in <now>", new Dictionary<string, string> { ["error"] = "<script>x</script>", ["csrf"] = "a\"b", ["next"] = "/" });
        Assert.Contains("&lt;script&gt;", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>x", html, StringComparison.Ordinal);
        Assert.Contains("Log in &lt;now&gt;", html, StringComparison.Ordinal);
        foreach (var page in new[] { "fleet.html", "host.html", "log.html", "admin.html", "audit.html", "forbidden.html", "login.html" })
        {
            Assert.NotNull(Pages.File(page));
        }
        Assert.NotNull(Pages.File("hub.js"));
        Assert.NotNull(Pages.File("hub.css"));
        Assert.DoesNotContain("<script>", Pages.Render("fleet.html", "x", new Dictionary<string, string>()), StringComparison.Ordinal); // no inline script (CSP)
    }
}
