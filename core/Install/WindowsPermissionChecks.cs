using Belay.Core.IO;

namespace Belay.Core.Install;

/// <summary>
/// `belay doctor` on Windows: config.json (the token) must carry the owner-only ACL of its scope
/// (<see cref="OwnerOnlyAcl"/>): a protected DACL allowing SYSTEM and Administrators (system) or SYSTEM
/// and the installing user (user), read back with GetFileSecurityW and compared entry by entry.
/// Binaries' ACLs are not checked here yet.
/// </summary>
public static class WindowsPermissionChecks
{
    public static IReadOnlyList<Finding> Check(InstallLayout layout, OwnerOnlyScope scope, OwnerOnlyAcl acl)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(acl);
        var config = layout.ConfigFile;
        if (!File.Exists(config))
        {
            return [new Finding("config", false, $"{config} is missing", "reinstall: belay install --feed URL")];
        }
        var expected = acl.ExpectedSddl(scope);
        return [acl.Problem(config, scope) is { } problem
            ? new Finding("config", false, $"{config}: {problem}: it may hold a token and must be readable by {OwnerOnlyAcl.Who(scope)} alone",
                $"icacls \"{config}\" /inheritance:r /grant:r {(scope == OwnerOnlyScope.System ? "*S-1-5-32-544" : "%USERNAME%")}:F *S-1-5-18:F, then /remove any other name it lists (expected {expected})")
            : new Finding("config", true, $"{config}: readable by {OwnerOnlyAcl.Who(scope)} alone ({expected})")];
    }
}
