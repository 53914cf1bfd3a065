using System.Security.Claims;
using Belay.Hub.Admin;
using Belay.Hub.Security;
using Belay.Hub.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using ILogger = Serilog.ILogger;

namespace Belay.Hub.Web;

/// <summary>
/// The pages (the fleet, a host, a live log, the audit table, the admin page), the login and
/// logout forms, and the embedded static files. Pages need a session; admin pages the admin role
/// (a viewer gets a 403 page). Login is rate-limited per address and checks the CSRF token of its
/// own form; a failed login takes as long whether the name exists or not.
/// </summary>
internal static class PageEndpoints
{
    public const string LoginRateLimit = "login";

    public static void MapPages(this IEndpointRouteBuilder routes, bool tls)
    {
        routes.MapGet("/static/{name}", Static);
        routes.MapGet("/login", (HttpContext context) => LoginPageAsync(context, null));
        routes.MapPost("/login", (HttpContext context, IHubStore store, TimeProvider clock, ILogger log, Administration admin) =>
            LoginAsync(context, store, clock, log, admin, tls)).RequireRateLimiting(LoginRateLimit);
        routes.MapPost("/logout", (HttpContext context, IHubStore store, Administration admin) => LogoutAsync(context, store, admin, tls))
            .RequireAuthorization(HubPolicies.Viewer);

        var pages = routes.MapGroup("").RequireAuthorization(HubPolicies.Viewer);
        pages.MapGet("/", (HttpContext c) => Pages.WritePageAsync(c, "fleet.html", "Fleet", "fleet"));
        pages.MapGet("/hosts/{id}", (HttpContext c, string id) => Pages.WritePageAsync(c, "host.html", "Host", "host", new Dictionary<string, string> { ["host"] = id }));
        pages.MapGet("/hosts/{id}/logs/{program}", (HttpContext c, string id, string program, string? stream) => Pages.WritePageAsync(c, "log.html", $"{program} log", "log",
            new Dictionary<string, string> { ["host"] = id, ["program"] = program, ["stream"] = stream == "stderr" ? "stderr" : "stdout" }));
        pages.MapGet("/audit", (HttpContext c) => Pages.WritePageAsync(c, "audit.html", "Audit", "audit")).RequireAuthorization(HubPolicies.Admin);
        pages.MapGet("/admin", (HttpContext c) => Pages.WritePageAsync(c, "admin.html", "Admin", "admin")).RequireAuthorization(HubPolicies.Admin);
    }

    /// <summary>The session cookie's name: bound to this origin and TLS-only under TLS.</summary>
    public static string SessionCookie(bool tls) => tls ? "__Host-belay_session" : "belay_session";

    private static Results<FileContentHttpResult, StatusCodeHttpResult, NotFound> Static(string name, HttpContext context)
    {
        if (name.EndsWith(".html", StringComparison.Ordinal) || Pages.File(name) is not { } file)
        {
            return TypedResults.NotFound();
        }
        context.Response.Headers.XContentTypeOptions = "nosniff";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers.ETag = file.ETag;
        if (context.Request.Headers.IfNoneMatch.ToString() == file.ETag)
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }
        return TypedResults.File(file.Bytes, Pages.ContentType(name));
    }

    private static Task LoginPageAsync(HttpContext context, string? error)
    {
        var next = context.Request.Query["next"].ToString();
        return Pages.WritePageAsync(context, "login.html", "Log in", "login", new Dictionary<string, string>
        {
            ["next"] = SafeNext(next),
            ["error"] = error ?? "",
        });
    }

    private static async Task LoginAsync(HttpContext context, IHubStore store, TimeProvider clock, ILogger log, Administration admin, bool tls)
    {
        if (!context.Request.HasFormContentType)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await LoginPageAsync(context, "The login form was not sent as a form.").ConfigureAwait(false);
            return;
        }
        var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        var remote = context.Connection.RemoteIpAddress?.ToString();
        if (!await Csrf.ValidateAsync(context).ConfigureAwait(false))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await LoginPageAsync(context, "The form was stale (its CSRF token did not match): please try again.").ConfigureAwait(false);
            return;
        }
        var name = form["name"].ToString().Trim();
        var password = form["password"].ToString();
        var user = name.Length is > 0 and <= 64 ? await store.FindUserAsync(name, context.RequestAborted).ConfigureAwait(false) : null;
        // The same work for an unknown name as for a wrong password: no telling which names exist.
        var ok = Passwords.Verify(name, user?.PasswordHash ?? Passwords.Decoy, password) && user is not null;
        if (!ok)
        {
            log.Warning("failed login for {User} from {Remote}", name, remote);
            await admin.Audit(name.Length > 64 ? name[..64] : name, "login.failed", null, null, null, context.RequestAborted, remote).ConfigureAwait(false);
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            await LoginPageAsync(context, "Wrong name or password.").ConfigureAwait(false);
            return;
        }
        var secret = HubSecrets.New(HubSecrets.SessionPrefix);
        var now = clock.GetUtcNow();
        await store.CreateSessionAsync(new SessionRecord(HubSecrets.Hash(secret), user!.Id, now, now + OperatorAuthentication.SessionLifetime), context.RequestAborted)
            .ConfigureAwait(false);
        context.Response.Cookies.Append(SessionCookie(tls), secret, new CookieOptions
        {
            HttpOnly = true,
            Secure = tls,
            SameSite = SameSiteMode.Strict,
            Path = "/",
            MaxAge = OperatorAuthentication.SessionLifetime,
            IsEssential = true,
        });
        await admin.Audit(user.Name, "login", null, null, null, context.RequestAborted, remote).ConfigureAwait(false);
        log.Information("{User} logged in from {Remote}", user.Name, remote);
        context.Response.Redirect(SafeNext(form["next"].ToString()));
    }

    private static async Task LogoutAsync(HttpContext context, IHubStore store, Administration admin, bool tls)
    {
        if (!await Csrf.ValidateAsync(context).ConfigureAwait(false))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("missing or stale CSRF token: reload the page and try again").ConfigureAwait(false);
            return;
        }
        if (context.User.IsSession())
        {
            await store.DeleteSessionAsync(context.User.CredentialHash(), context.RequestAborted).ConfigureAwait(false);
        }
        context.Response.Cookies.Delete(SessionCookie(tls), new CookieOptions { Path = "/", Secure = tls, HttpOnly = true, SameSite = SameSiteMode.Strict });
        await admin.Audit(context.User.Name(), "logout", null, null, null, context.RequestAborted, context.Connection.RemoteIpAddress?.ToString()).ConfigureAwait(false);
        context.Response.Redirect("/login");
    }

    /// <summary>Where to go after login: a path on this hub only (no open redirect).</summary>
    internal static string SafeNext(string? next) =>
        next is { Length: > 0 } n && n[0] == '/' && !n.StartsWith("//", StringComparison.Ordinal) && !n.StartsWith("/\\", StringComparison.Ordinal) && !n.Contains('\n', StringComparison.Ordinal)
            ? n
            : "/";
}
