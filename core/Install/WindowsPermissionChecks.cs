using Belay.Core.IO;

namespace Belay.Core.Install;

/// <summary>
/// `belay doctor` on Windows: config.json (the token), and hub.json and the group identity when they exist, must carry the owner-only ACL of its scope
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
        var findings = new List<Finding> { Acl("config", config, "it may hold a token", scope, acl, expected) };
        foreach (var (path, what) in (ReadOnlySpan<(string, string)>)[(Hub.HubSettings.PathIn(layout), "it holds the hub credential"), (layout.GroupIdentityFile, "it holds the group identity")])
        {
            if (File.Exists(path))
            {
                findings.Add(Acl("secrets", path, what, scope, acl, expected));
            }
        }
        return findings;
    }

    private static Finding Acl(string check, string path, string what, OwnerOnlyScope scope, OwnerOnlyAcl acl, string expected) =>
        acl.Problem(path, scope) is { } problem
            ? new Finding(check, false, $"{path}: {problem}: {what} and must be readable by {OwnerOnlyAcl.Who(scope)} alone",
                $"icacls \"{path}\" /inheritance:r /grant:r {(scope == OwnerOnlyScope.System ? "*S-1-5-32-544" : "%USERNAME%")}:F *S-1-5-18:F, then /remove any other name it lists (expected {expected})")
            : new Finding(check, true, $"{path}: readable by {OwnerOnlyAcl.Who(scope)} alone ({expected})");
}
