using Belay.Hub.Storage;
using Microsoft.AspNetCore.Authorization;

namespace Belay.Hub.Security;

/// <summary>The two authorization policies: any operator (viewer or admin), and admins only.</summary>
internal static class HubPolicies
{
    public const string Viewer = "viewer";
    public const string Admin = "admin";

    public static void Add(AuthorizationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.AddPolicy(Viewer, p => p.AddAuthenticationSchemes(OperatorAuthentication.SchemeName).RequireAuthenticatedUser());
        options.AddPolicy(Admin, p => p.AddAuthenticationSchemes(OperatorAuthentication.SchemeName).RequireAuthenticatedUser().RequireRole(Roles.Admin));
    }
}
