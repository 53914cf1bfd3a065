using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Belay.Serving;

/// <summary>Serving a feed directory from an application that has its own endpoints (the hub).</summary>
public static class FeedEndpoints
{
    /// <summary>How long a download may make no progress before it is cut (nginx's send_timeout is 60 s too).</summary>
    public static readonly TimeSpan DefaultSendTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Serves <paramref name="feedDirectory"/> read-only under <paramref name="prefix"/>
    /// (like "/feed", or "" for the root) with the same rules as <c>belay-release serve</c>:
    /// GET and HEAD (405 for the rest), content ETags, conditional and range requests, no
    /// listings, no hidden files, nothing outside the feed. The prefix must be plain ASCII
    /// (segments of letters, digits, "-", "_", "." not starting with ".") so that its raw and decoded spellings are one.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    public static IEndpointConventionBuilder MapFeed(this IEndpointRouteBuilder routes, string prefix, string feedDirectory)
    {
        ArgumentNullException.ThrowIfNull(routes);
        ArgumentNullException.ThrowIfNull(prefix);
        var time = routes.ServiceProvider.GetService<TimeProvider>() ?? TimeProvider.System;
        var handler = CreateHandler(prefix, feedDirectory, time, DefaultSendTimeout);
        return routes.Map(prefix + "/{**path}", handler.HandleAsync);
    }

    internal static FeedRequestHandler CreateHandler(string prefix, string feedDirectory, TimeProvider time, TimeSpan sendTimeout)
    {
        var plain = prefix.Length == 0 || (prefix.StartsWith('/') && prefix[1..].Split('/').All(segment =>
            segment.Length > 0 && segment[0] != '.' && segment.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')));
        if (!plain)
        {
            throw new ArgumentException($"feed prefix '{prefix}' must be empty or like /feed: plain ASCII, no trailing slash", nameof(prefix));
        }
        return new FeedRequestHandler(FeedRoot.Open(feedDirectory), new ContentETags(time), prefix, sendTimeout);
    }
}
