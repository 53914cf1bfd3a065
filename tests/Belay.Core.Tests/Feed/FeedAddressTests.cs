using Belay.Core.Feed;

namespace Belay.Core.Tests.Feed;

public sealed class FeedAddressTests
{
    [Theory]
    [InlineData("https://feed.example.com/")]
    [InlineData("http://127.0.0.1:8080/")]
    [InlineData("file:///srv/feed")]
    [InlineData("/srv/feed")]
    [InlineData("relative/feed")]
    public void WhatBelayReadsIsFine(string feed) => Assert.Null(FeedSource.Problem(feed));

    [Theory]
    [InlineData("http://127.0.0.1:99999/", "port '99999' is not a port number (1 to 65535)")]
    [InlineData("http://:8080/", "has no host name")]
    [InlineData("gopher://feed.example.com/", "has a scheme Belay does not read (gopher://)")]
    [InlineData("ftp://feed.example.com/", "has a scheme Belay does not read (ftp://)")]
    public void WhatItDoesNotIsSaidPrecisely(string feed, string expected) =>
        Assert.Contains(expected, FeedSource.Problem(feed), StringComparison.Ordinal);
}
