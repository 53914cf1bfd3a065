using Belay.Core.Hub;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Belay.Hub.Security;

/// <summary>
/// Cross-site request forgery: a browser sends the session cookie with any request, wherever it
/// comes from, so every state-changing request authenticated by the cookie must also carry the
/// antiforgery token of ASP.NET Core's <see cref="IAntiforgery"/> (the <c>csrf</c> form field of the
/// pages, or the <c>X-CSRF-Token</c> header the page's script sends), which another site cannot read.
/// An API token is not ambient (a browser never adds it by itself), so token calls need none.
/// The cookies are SameSite=Strict as well: two locks.
/// </summary>
internal static class Csrf
{
    public const string HeaderName = "X-CSRF-Token";
    public const string FieldName = "csrf";

    public static RouteHandlerBuilder RequireCsrf(this RouteHandlerBuilder builder) =>
        builder.AddEndpointFilter(async (context, next) =>
            await ValidateAsync(context.HttpContext).ConfigureAwait(false) ? await next(context).ConfigureAwait(false) : Refused());

    public static RouteGroupBuilder RequireCsrf(this RouteGroupBuilder builder) =>
        builder.AddEndpointFilter(async (context, next) =>
            await ValidateAsync(context.HttpContext).ConfigureAwait(false) ? await next(context).ConfigureAwait(false) : Refused());

    /// <summary>True when the request is safe, token-authenticated, or carries a valid antiforgery token.</summary>
    public static async Task<bool> ValidateAsync(HttpContext context)
    {
        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method))
        {
            return true;
        }
        if (context.User.Identity?.IsAuthenticated == true && !context.User.IsSession())
        {
            return true;
        }
        var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>();
        try
        {
            await antiforgery.ValidateRequestAsync(context).ConfigureAwait(false);
            return true;
        }
        catch (AntiforgeryValidationException)
        {
            return false;
        }
    }

    private static JsonHttpResult<HubError> Refused() => TypedResults.Json(
        new HubError { Error = "missing or stale CSRF token: reload the page and try again", Code = "csrf" }, HubJsonContext.Default.HubError,
        statusCode: StatusCodes.Status400BadRequest);
}
