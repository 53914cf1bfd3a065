using System.Security.Claims;
using Belay.Hub.Security;
using Belay.Hub.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Belay.Hub.Api;

/// <summary>The audit table (admins), and who the caller is (anyone logged in).</summary>
internal static class AuditApi
{
    public static void MapAudit(this RouteGroupBuilder api)
    {
        api.MapGet("/audit", ListAsync).RequireAuthorization(HubPolicies.Admin);
        api.MapGet("/session", Session);
    }

    private static async Task<Ok<List<AuditView>>> ListAsync(IHubStore store, int? limit, string? action, CancellationToken cancellationToken) =>
        TypedResults.Ok((await store.ListAuditAsync(limit ?? 200, action, cancellationToken).ConfigureAwait(false)).Select(View).ToList());

    private static Ok<SessionView> Session(ClaimsPrincipal user) =>
        TypedResults.Ok(new SessionView { User = user.Name(), Role = user.Role(), Method = user.IsSession() ? "session" : "token" });

    internal static AuditView View(AuditRecord a) => new()
    {
        Id = a.Id, At = a.At, Actor = a.Actor, Action = a.Action, HostId = a.HostId, Target = a.Target, Remote = a.Remote, Detail = a.Detail,
    };
}
