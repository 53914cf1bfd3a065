using System.Security.Claims;
using Belay.Core.Hub;
using Belay.Hub.Security;
using Belay.Hub.Storage;
using Belay.Serving;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Belay.Hub.Feed;

/// <summary>
/// The feed the hub serves: GET /feed/… for hosts (anyone, as any static feed: everything in it is
/// signed), and POST /api/v1/feed for `belay-release push` (admins only).
/// </summary>
internal static class FeedApi
{
    public const string Prefix = "/feed";

    /// <summary>Serves the current generation under /feed/ (when the hub has a feed) with belay-release serve's rules.</summary>
    public static void MapServedFeed(this IEndpointRouteBuilder routes, FeedPublications? feed)
    {
        if (feed is not null)
        {
            routes.MapFeed(Prefix, feed.Hosting.Current);
        }
    }

    public static void MapFeedPush(this RouteGroupBuilder api)
    {
        api.MapPost("/feed", PushAsync).RequireAuthorization(HubPolicies.Admin);
    }

    private static async Task<JsonHttpResult<FeedPushAnswer>> PushAsync(HttpContext context, ClaimsPrincipal user, IHubStore store, TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var feed = context.RequestServices.GetService<FeedPublications>();
        if (feed is null)
        {
            return Answer(StatusCodes.Status404NotFound, new FeedPushAnswer
            {
                Error = "this hub serves no feed: start it with belay-hub serve --feed-dir DIR --feed-root-key KEY (the root public key your hosts pin)",
                Code = FeedPush.NoFeedCode,
            });
        }
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            // One more byte than allowed, so that the push itself says how much it takes.
            limit.MaxRequestBodySize = feed.Hosting.MaxUploadBytes + 1;
        }
        FeedPublications.Outcome outcome;
        try
        {
            outcome = await feed.PushAsync(context.Request.Body, context.Request.ContentLength, user.Name(), cancellationToken).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e)
        {
            return Answer(e.StatusCode, new FeedPushAnswer { Error = $"the upload broke off: {e.Message}", Code = "bad-request" });
        }
        await store.AddAuditAsync(new AuditRecord(0, clock.GetUtcNow(), user.Name(), outcome.Status == StatusCodes.Status200OK ? "feed.push" : "feed.push-refused",
            null, outcome.Answer.Generation?.ToString(System.Globalization.CultureInfo.InvariantCulture), context.Connection.RemoteIpAddress?.ToString(),
            outcome.Answer.Result ?? outcome.Answer.Error), cancellationToken).ConfigureAwait(false);
        return Answer(outcome.Status, outcome.Answer);
    }

    private static JsonHttpResult<FeedPushAnswer> Answer(int status, FeedPushAnswer answer) =>
        TypedResults.Json(answer, FeedPushJsonContext.Default.FeedPushAnswer, statusCode: status);
}
