using System.Security.Claims;
using Belay.Core;
using Belay.Core.Hub;
using Belay.Hub.Admin;
using Belay.Hub.Security;
using Belay.Hub.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Belay.Hub.Api;

/// <summary>Admins only: enrollment tokens, operators and their API tokens (the admin page uses these; so can curl).</summary>
internal static class AdminApi
{
    public static void MapAdmin(this RouteGroupBuilder api)
    {
        var admin = api.MapGroup("").RequireAuthorization(HubPolicies.Admin);
        admin.MapGet("/tokens", (Administration a, CancellationToken c) => ListTokens(a, c));
        admin.MapPost("/tokens", CreateTokenAsync);
        admin.MapDelete("/tokens/{id}", RevokeTokenAsync);
        admin.MapGet("/users", ListUsersAsync);
        admin.MapPost("/users", AddUserAsync);
        admin.MapDelete("/users/{name}", RemoveUserAsync);
        admin.MapGet("/apitokens", ListApiTokensAsync);
        admin.MapPost("/apitokens", CreateApiTokenAsync);
        admin.MapDelete("/apitokens/{id}", RevokeApiTokenAsync);
    }

    private static async Task<Ok<List<EnrollTokenView>>> ListTokens(Administration admin, CancellationToken cancellationToken) =>
        TypedResults.Ok(await admin.ListEnrollTokensAsync(cancellationToken).ConfigureAwait(false));

    private static async Task<Results<Ok<NewEnrollToken>, BadRequest<HubError>>> CreateTokenAsync(CreateEnrollTokenRequest request, Administration admin, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        try
        {
            return TypedResults.Ok(await admin.CreateEnrollTokenAsync(request.Group, request.Uses, request.Expires, user.Name(), cancellationToken).ConfigureAwait(false));
        }
        catch (BelayException e)
        {
            return Bad(e);
        }
    }

    private static async Task<Results<Ok<Done>, NotFound<HubError>>> RevokeTokenAsync(string id, Administration admin, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        await admin.RevokeEnrollTokenAsync(id, user.Name(), cancellationToken).ConfigureAwait(false)
            ? TypedResults.Ok(new Done { Result = "revoked" })
            : TypedResults.NotFound(new HubError { Error = $"no usable enrollment token {id}", Code = "not-found" });

    private static async Task<Ok<List<UserView>>> ListUsersAsync(IHubStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok((await store.ListUsersAsync(cancellationToken).ConfigureAwait(false)).Select(u => new UserView { Name = u.Name, Role = u.Role, CreatedAt = u.CreatedAt })
            .ToList());

    private static async Task<Results<Ok<NewUser>, BadRequest<HubError>>> AddUserAsync(CreateUserRequest request, Administration admin, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        try
        {
            return TypedResults.Ok(await admin.AddUserAsync(request.Name, request.Role, string.IsNullOrEmpty(request.Password) ? null : request.Password, user.Name(),
                cancellationToken).ConfigureAwait(false));
        }
        catch (BelayException e)
        {
            return Bad(e);
        }
    }

    private static async Task<Results<Ok<Done>, NotFound<HubError>, BadRequest<HubError>>> RemoveUserAsync(string name, Administration admin, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        if (name == user.Name())
        {
            return TypedResults.BadRequest(new HubError { Error = "you cannot remove yourself; another admin can", Code = "bad-request" });
        }
        return await admin.RemoveUserAsync(name, user.Name(), cancellationToken).ConfigureAwait(false)
            ? TypedResults.Ok(new Done { Result = "removed; their sessions and tokens are gone" })
            : TypedResults.NotFound(new HubError { Error = $"no operator named '{name}'", Code = "not-found" });
    }

    private static async Task<Ok<List<ApiTokenView>>> ListApiTokensAsync(IHubStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok((await store.ListApiTokensAsync(cancellationToken).ConfigureAwait(false)).Select(t => new ApiTokenView
        {
            Id = t.Id, User = t.UserName, Name = t.Name, CreatedAt = t.CreatedAt, ExpiresAt = t.ExpiresAt, LastUsed = t.LastUsed, Revoked = t.RevokedAt is not null,
        }).ToList());

    private static async Task<Results<Ok<NewApiToken>, BadRequest<HubError>>> CreateApiTokenAsync(CreateApiTokenRequest request, Administration admin, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        try
        {
            return TypedResults.Ok(await admin.CreateApiTokenAsync(request.User, request.Name, request.Expires, user.Name(), cancellationToken).ConfigureAwait(false));
        }
        catch (BelayException e)
        {
            return Bad(e);
        }
    }

    private static async Task<Results<Ok<Done>, NotFound<HubError>>> RevokeApiTokenAsync(string id, Administration admin, ClaimsPrincipal user,
        CancellationToken cancellationToken) =>
        await admin.RevokeApiTokenAsync(id, user.Name(), cancellationToken).ConfigureAwait(false)
            ? TypedResults.Ok(new Done { Result = "revoked" })
            : TypedResults.NotFound(new HubError { Error = $"no live API token {id}", Code = "not-found" });

    private static BadRequest<HubError> Bad(BelayException e) => TypedResults.BadRequest(new HubError { Error = e.Message, Code = "bad-request" });
}
