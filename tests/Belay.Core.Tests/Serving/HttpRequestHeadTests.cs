using System.Text;
using Belay.Core.Serving;

namespace Belay.Core.Tests.Serving;

public sealed class HttpRequestHeadTests
{
    private static RequestParseResult Parse(string head) => HttpRequestHead.Parse(Encoding.Latin1.GetBytes(head));

    [Fact]
    public void A_GET_head_is_parsed_into_method_target_version_and_fields()
    {
        var result = Parse("GET /root.json HTTP/1.1\r\nHost: feed\r\nIf-None-Match: \"a\"\r\nif-none-match:  \"b\" \r\n\r\n");

        var request = Assert.IsType<HttpRequestHead>(result.Request);
        Assert.Equal("GET", request.Method);
        Assert.Equal("/root.json", request.Target);
        Assert.True(request.IsHttp11);
        Assert.Equal(["\"a\"", "\"b\""], request.Values("If-None-Match"));
        Assert.True(request.KeepAlive);
        Assert.False(request.HasBody);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false)]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n", false)]
    [InlineData("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false)]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", false)]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", false)]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", true)]
    public void Keep_alive_follows_the_version_Connection_and_any_body(string head, bool keepAlive)
    {
        Assert.Equal(keepAlive, Parse(head).Request!.KeepAlive);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)]
    [InlineData("GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505)]
    [InlineData("GET / HTTPS/1.1\r\nHost: a\r\n\r\n", 400)]
    [InlineData("GET / http/1.1\r\nHost: a\r\n\r\n", 400)]
    [InlineData("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400)]
    [InlineData("GET /a\u00e9 HTTP/1.1\r\nHost: a\r\n\r\n", 400)]
    [InlineData("GET /\u0001 HTTP/1.1\r\nHost: a\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nBad\u0001: v\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nX: v\u0000w\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400)]
    public void A_malformed_head_is_refused_with_its_status(string head, int status)
    {
        var result = Parse(head);

        Assert.Null(result.Request);
        Assert.Equal(status, result.ErrorStatus);
    }

    [Fact]
    public void Too_many_header_fields_get_431()
    {
        var head = "GET / HTTP/1.1\r\nHost: a\r\n" + string.Concat(Enumerable.Range(0, 10).Select(i => $"X-{i}: v\r\n")) + "\r\n";

        Assert.Equal(431, HttpRequestHead.Parse(Encoding.ASCII.GetBytes(head), maxHeaderCount: 5).ErrorStatus);
    }

    [Fact]
    public void Equal_repeated_Content_Length_values_are_one_length()
    {
        var request = Parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\n").Request;

        Assert.True(request!.HasBody);
    }

    [Fact]
    public void Obs_text_in_a_field_value_is_kept_as_Latin1()
    {
        var request = Parse("GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: caf\u00e9\r\n\r\n").Request;

        Assert.Equal("caf\u00e9", request!.Values("User-Agent").Single());
    }
}
