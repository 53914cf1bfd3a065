using System.ComponentModel;

namespace Belay.Core.IO;

/// <summary>Whose file a secret is on Windows: the machine's (a system install) or one user's (a user install).</summary>
public enum OwnerOnlyScope
{
    /// <summary>SYSTEM (the keeper and agent run as LocalSystem) and BUILTIN\Administrators.</summary>
    System,

    /// <summary>SYSTEM and the user who installed (and runs) Belay; not Administrators.</summary>
    User,
}

/// <summary>
/// The calls to advapi32 that <see cref="OwnerOnlyAcl"/> makes, one method per call, so that tests on any OS
/// check the sequence through a fake (the native one is <see cref="Windows.NativeFileSecurity"/>).
/// </summary>
public interface IFileSecurityApi
{
    /// <summary>The SID of the user this process runs as, as text (S-1-5-21-…).</summary>
    string CurrentUserSid();

    /// <summary>ConvertStringSecurityDescriptorToSecurityDescriptorW: a descriptor to free with <see cref="LocalFree"/>, or 0.</summary>
    nint SecurityDescriptorFromSddl(string sddl);

    /// <summary>SetFileSecurityW with DACL_SECURITY_INFORMATION.</summary>
    bool SetFileDacl(string path, nint descriptor);

    /// <summary>GetFileSecurityW (DACL) and ConvertSecurityDescriptorToStringSecurityDescriptorW: the DACL as SDDL, or null.</summary>
    string? GetFileDaclSddl(string path);

    void LocalFree(nint memory);

    /// <summary>The Win32 error of the last call that failed.</summary>
    int LastError { get; }
}

/// <summary>
/// Windows' counterpart of mode 0600 for a file holding a secret (config.json and its token): a
/// protected DACL, so nothing is inherited from the folder, that lets SYSTEM and Administrators (system
/// scope) or SYSTEM and the installing user (user scope) in, and nobody else: not Users, not Everyone,
/// not CREATOR OWNER. The ACL is put on the temporary file before the secret is written into it, and the
/// rename keeps it (a move within a volume keeps a file's security descriptor).
/// </summary>
public sealed class OwnerOnlyAcl(IFileSecurityApi api)
{
    private const string FullControl = "FA";

    /// <summary>The SDDL for <paramref name="scope"/>: D: DACL, P protected (no inheritance), A allow, FA file all access.</summary>
    public static string Sddl(OwnerOnlyScope scope, string? userSid = null) => scope switch
    {
        OwnerOnlyScope.System => $"D:P(A;;{FullControl};;;SY)(A;;{FullControl};;;BA)",
        _ => $"D:P(A;;{FullControl};;;SY)(A;;{FullControl};;;{(string.IsNullOrEmpty(userSid) ? throw new ArgumentException("a user scope needs the user's SID", nameof(userSid)) : userSid)})",
    };

    /// <summary>
    /// The SDDL for a folder of secrets: the same entries as <see cref="Sddl"/>, inherited by every file and folder
    /// created in it (OICI: object and container inherit), so that what the agent writes there is owner-only too.
    /// </summary>
    public static string FolderSddl(OwnerOnlyScope scope, string? userSid = null) =>
        Sddl(scope, userSid).Replace("(A;;", "(A;OICI;", StringComparison.Ordinal);

    /// <summary>Replaces the DACL of the folder <paramref name="path"/> with <see cref="FolderSddl"/>; throws on failure.</summary>
    public void ApplyToFolder(string path, OwnerOnlyScope scope) =>
        Set(path, FolderSddl(scope, scope == OwnerOnlyScope.User ? api.CurrentUserSid() : null), scope);

    public string ExpectedSddl(OwnerOnlyScope scope) => Sddl(scope, scope == OwnerOnlyScope.User ? api.CurrentUserSid() : null);

    /// <summary>Replaces the DACL of <paramref name="path"/> with the owner-only one; throws on failure (a secret must not be written unprotected).</summary>
    public void Apply(string path, OwnerOnlyScope scope) => Set(path, ExpectedSddl(scope), scope);

    private void Set(string path, string sddl, OwnerOnlyScope scope)
    {
        var descriptor = api.SecurityDescriptorFromSddl(sddl);
        if (descriptor == 0)
        {
            throw new IOException($"cannot build the security descriptor {sddl}: {new Win32Exception(api.LastError).Message}");
        }
        try
        {
            if (!api.SetFileDacl(path, descriptor))
            {
                throw new IOException($"cannot restrict {path} to {Who(scope)} ({sddl}): {new Win32Exception(api.LastError).Message}");
            }
        }
        finally
        {
            api.LocalFree(descriptor);
        }
    }

    /// <summary>Null when <paramref name="path"/> has exactly the owner-only DACL for <paramref name="scope"/>, else what is wrong.</summary>
    public string? Problem(string path, OwnerOnlyScope scope)
    {
        if (api.GetFileDaclSddl(path) is not { } actual)
        {
            return $"cannot read its ACL: {new Win32Exception(api.LastError).Message}";
        }
        return Compare(actual, ExpectedSddl(scope));
    }

    /// <summary>
    /// Null when <paramref name="actual"/> is the DACL of <paramref name="expected"/>: protected, with the same
    /// access entries in any order (Windows may reorder them); else what differs.
    /// </summary>
    public static string? Compare(string actual, string expected)
    {
        ArgumentNullException.ThrowIfNull(actual);
        ArgumentNullException.ThrowIfNull(expected);
        var (actualFlags, actualAces) = Split(actual);
        var (_, expectedAces) = Split(expected);
        var problems = new List<string>();
        if (!actualFlags.Contains('P', StringComparison.Ordinal))
        {
            problems.Add("it inherits entries from its folder (the DACL is not protected)");
        }
        var extra = actualAces.Except(expectedAces, StringComparer.OrdinalIgnoreCase).ToList();
        var missing = expectedAces.Except(actualAces, StringComparer.OrdinalIgnoreCase).ToList();
        if (extra.Count > 0)
        {
            problems.Add($"it also allows {string.Join(" ", extra)}");
        }
        if (missing.Count > 0)
        {
            problems.Add($"it lacks {string.Join(" ", missing)}");
        }
        return problems.Count == 0 ? null : $"ACL {actual}, expected {expected}: {string.Join("; ", problems)}";
    }

    public static string Who(OwnerOnlyScope scope) => scope == OwnerOnlyScope.System ? "SYSTEM and Administrators" : "SYSTEM and the installing user";

    private static (string Flags, List<string> Aces) Split(string sddl)
    {
        var dacl = sddl.IndexOf("D:", StringComparison.Ordinal) is var d and >= 0 ? sddl[(d + 2)..] : "";
        var sacl = dacl.IndexOf("S:", StringComparison.Ordinal);
        if (sacl >= 0)
        {
            dacl = dacl[..sacl];
        }
        var open = dacl.IndexOf('(', StringComparison.Ordinal);
        var flags = open < 0 ? dacl : dacl[..open];
        var aces = new List<string>();
        while (open >= 0)
        {
            var close = dacl.IndexOf(')', open);
            if (close < 0)
            {
                break;
            }
            aces.Add(dacl[(open + 1)..close]);
            open = dacl.IndexOf('(', close);
        }
        return (flags, aces);
    }
}
