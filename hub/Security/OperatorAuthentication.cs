using System.Security.Claims;
using System.Text.Encodings.Web;
using Belay.Hub.Storage;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Belay.Hub.Security;

/// <summary>
/// Who an operator is: a browser session (the cookie set at login, kept server-side as a hash,
/// so logout and revocation end it at once) or an API token (<c>Authorization: Bearer bht_…</c>).
/// Nothing else authenticates an operator: an agent's credential on an operator path is refused,
/// and this handler does not look at <c>/agent/…</c> at all (those paths check the host credential
/// themselves). A page asked for without a session is sent to the login page; an API call gets 401.
/// </summary>
internal sealed class OperatorAuthentication : AuthenticationHandler<OperatorAuthenticationOptions>
{
    public const string SchemeName = "operator";
    public const string MethodClaim = "belay:method";
    public const string CredentialClaim = "belay:credential";
    public const string SessionMethod = "session";
    public const string TokenMethod = "token";

    /// <summary>Sessions last this long from login.</summary>
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(12);

    private readonly IHubStore _store;
    private readonly TimeProvider _clock;

    public OperatorAuthentication(IOptionsMonitor<OperatorAuthenticationOptions> options, ILoggerFactory logger, UrlEncoder encoder, IHubStore store, TimeProvider clock)
        : base(options, logger, encoder)
    {
        _store = store;
        _clock = clock;
    }

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (Request.Path.StartsWithSegments("/agent"))
        {
            return AuthenticateResult.NoResult();
        }
        var header = Request.Headers.Authorization.ToString();
        var now = _clock.GetUtcNow();
        if (header.Length > 0)
        {
            if (!header.StartsWith("Bearer ", StringComparison.Ordinal))
            {
                return AuthenticateResult.Fail("only Bearer tokens are accepted");
            }
            var token = header["Bearer ".Length..].Trim();
            if (!token.StartsWith(HubSecrets.ApiTokenPrefix, StringComparison.Ordinal))
            {
                return AuthenticateResult.Fail(token.StartsWith(HubSecrets.CredentialPrefix, StringComparison.Ordinal)
                    ? "an agent credential cannot be used on the operator API"
                    : "not an operator API token (bht_…)");
            }
            var hash = HubSecrets.Hash(token);
            var found = await _store.FindApiTokenAsync(hash, now, Context.RequestAborted).ConfigureAwait(false);
            return found is { } t ? Success(t.User, TokenMethod, hash) : AuthenticateResult.Fail("unknown, revoked or expired API token");
        }
        if (Request.Cookies.TryGetValue(Options.CookieName, out var cookie) && cookie.StartsWith(HubSecrets.SessionPrefix, StringComparison.Ordinal))
        {
            var hash = HubSecrets.Hash(cookie);
            var found = await _store.FindSessionAsync(hash, now, Context.RequestAborted).ConfigureAwait(false);
            return found is { } s ? Success(s.User, SessionMethod, hash) : AuthenticateResult.Fail("the session ended; log in again");
        }
        return AuthenticateResult.NoResult();
    }

    private static AuthenticateResult Success(UserRecord user, string method, string credentialHash)
    {
        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.Name, user.Name),
                new Claim(ClaimTypes.Role, user.Role),
                new Claim(MethodClaim, method),
                new Claim(CredentialClaim, credentialHash),
            ], SchemeName, ClaimTypes.Name, ClaimTypes.Role);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (IsPage(Request))
        {
            Response.Redirect("/login?next=" + Uri.EscapeDataString(Request.Path + Request.QueryString));
            return;
        }
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        await Response.WriteAsJsonAsync(new Core.Hub.HubError { Error = "log in, or send an operator API token: Authorization: Bearer bht_…", Code = "unauthorized" },
            Core.Hub.HubJsonContext.Default.HubError).ConfigureAwait(false);
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        if (IsPage(Request))
        {
            await Web.Pages.WriteForbiddenAsync(Context).ConfigureAwait(false);
            return;
        }
        await Response.WriteAsJsonAsync(new Core.Hub.HubError { Error = "this needs the admin role", Code = "forbidden" }, Core.Hub.HubJsonContext.Default.HubError)
            .ConfigureAwait(false);
    }

    private static bool IsPage(HttpRequest request) => !request.Path.StartsWithSegments("/api");

    /// <summary>Whether a credential (by hash) still stands: revocations end the live tails opened with it.</summary>
    public static async Task<bool> StillValidAsync(IHubStore store, string credentialHash, DateTimeOffset now, CancellationToken cancellationToken) =>
        await store.FindSessionAsync(credentialHash, now, cancellationToken).ConfigureAwait(false) is not null
        || await store.FindApiTokenAsync(credentialHash, now, cancellationToken).ConfigureAwait(false) is not null;
}

internal sealed class OperatorAuthenticationOptions : AuthenticationSchemeOptions
{
    /// <summary>The session cookie's name: __Host-belay_session under TLS (bound to this origin, Secure), belay_session on plain loopback HTTP.</summary>
    public string CookieName { get; set; } = "belay_session";
}

internal static class OperatorClaims
{
    public static string Name(this ClaimsPrincipal user) => user.Identity?.Name ?? "?";

    public static bool IsSession(this ClaimsPrincipal user) => user.FindFirst(OperatorAuthentication.MethodClaim)?.Value == OperatorAuthentication.SessionMethod;

    public static string CredentialHash(this ClaimsPrincipal user) => user.FindFirst(OperatorAuthentication.CredentialClaim)?.Value ?? "";

    public static string Role(this ClaimsPrincipal user) => user.FindFirst(ClaimTypes.Role)?.Value ?? Roles.Viewer;
}
