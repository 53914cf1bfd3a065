namespace Belay.Serving.Tests;

public sealed class FeedRequestPathTests
{
    [Theory]
    [InlineData("/root.json", "root.json")]
    [InlineData("/channels/stable.json?cachebust=1", "channels/stable.json")]
    [InlineData("/agent/1.4.2/belay-agent-1.4.2-linux-x64.tar.gz", "agent/1.4.2/belay-agent-1.4.2-linux-x64.tar.gz")]
    [InlineData("/a%20b/%C3%A9t%C3%A9.txt", "a b/été.txt")]
    [InlineData("/agent/1.0.0+build.5/x", "agent/1.0.0+build.5/x")]
    [InlineData("http://feed.example/root.json", "root.json")]
    [InlineData("HTTPS://feed.example:8443/channels/beta.json", "channels/beta.json")]
    [InlineData("/a..b/c..", "a..b/c..")]
    public void A_plain_path_maps_to_its_decoded_segments(string target, string expected)
    {
        var result = FeedRequestPath.Parse(target);

        Assert.Equal(0, result.ErrorStatus);
        Assert.Equal(expected, result.RelativePath);
    }

    [Theory]
    [InlineData("/..", 400)]
    [InlineData("/a/../b", 400)]
    [InlineData("/a/./b", 400)]
    [InlineData("/%2e%2e/etc/passwd", 400)]
    [InlineData("/%2E./x", 400)]
    [InlineData("/a%2Fb", 400)]
    [InlineData("/a%5Cb", 400)]
    [InlineData("/a\\b", 400)]
    [InlineData("/a%00b", 400)]
    [InlineData("/a%0ab", 400)]
    [InlineData("/a%7Fb", 400)]
    [InlineData("/C:/x", 400)]
    [InlineData("/file.txt:stream", 400)]
    [InlineData("/a//b", 400)]
    [InlineData("/a%zz", 400)]
    [InlineData("/a%2", 400)]
    [InlineData("/%c0%ae%c0%ae/x", 400)]
    [InlineData("/%ff", 400)]
    [InlineData("/a#frag", 400)]
    [InlineData("a/b", 400)]
    [InlineData("*", 400)]
    [InlineData("example.com:443", 400)]
    [InlineData("/", 404)]
    [InlineData("/agent/", 404)]
    [InlineData("http://feed.example", 404)]
    [InlineData("/.git/config", 404)]
    [InlineData("/channels/.stable.json.tmp", 404)]
    [InlineData("/%2egit/config", 404)]
    public void A_path_that_could_leave_or_list_the_feed_is_refused(string target, int status)
    {
        var result = FeedRequestPath.Parse(target);

        Assert.Null(result.Segments);
        Assert.Equal(status, result.ErrorStatus);
    }

    [Theory]
    [InlineData("/feed/root.json", "root.json")]
    [InlineData("/feed/agent/1.0.0/a.tar.gz?x=1", "agent/1.0.0/a.tar.gz")]
    [InlineData("http://hub.example/feed/root.json", "root.json")]
    public void Under_a_prefix_the_segments_are_what_follows_it(string target, string expected)
    {
        var result = FeedRequestPath.Parse(target, "/feed");

        Assert.Equal(0, result.ErrorStatus);
        Assert.Equal(expected, result.RelativePath);
    }

    [Theory]
    [InlineData("/feed", 404)] // the feed's root: a directory
    [InlineData("/feed/", 404)]
    [InlineData("/feedx/root.json", 404)]
    [InlineData("/%66eed/root.json", 404)] // the prefix spelled otherwise is not the prefix
    [InlineData("/other/root.json", 404)]
    [InlineData("/feed/../root.json", 400)]
    [InlineData("/feed/.hidden", 404)]
    public void Under_a_prefix_anything_else_is_refused(string target, int status)
    {
        var result = FeedRequestPath.Parse(target, "/feed");

        Assert.Null(result.Segments);
        Assert.Equal(status, result.ErrorStatus);
    }
}
