using Belay.Core.Encryption;
using Belay.Core.IO;

namespace Belay.Core.Install;

/// <summary>An age identity file given to <c>belay install --group-identity</c> (or the MSI's GROUP_IDENTITY), read and checked.</summary>
/// <param name="Source">Where it was read from.</param>
/// <param name="Content">The file's bytes, copied as they are.</param>
/// <param name="Identities">The identities in it (at least one).</param>
public sealed record GroupIdentity(string Source, byte[] Content, IReadOnlyList<AgeIdentity> Identities)
{
    /// <summary>The public keys the group's secrets must be encrypted to, for messages.</summary>
    public string Recipients => string.Join(", ", Identities.Select(i => i.Recipient));
}

/// <summary>
/// The host's copy of its group's age identity (docs/deployments.md, "Secrets"): read and
/// checked before an install writes anything (a file that is not an age identity is refused
/// with exit code 2), then copied to the config folder's <c>group-identity</c> owner-only:
/// mode 0600 from its first byte on Unix, the owner-only DACL of config.json on Windows. Apps
/// that run as their own user cannot read it; an app run as the agent's own user (root, or
/// the installing user in user scope) could, which docs/security.md says.
/// </summary>
public static class GroupIdentityFile
{
    /// <summary>Identity files are small; anything larger is not one.</summary>
    private const long MaxBytes = 64 * 1024;

    public static GroupIdentity Read(string path, Action<string> say)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(say);
        var full = Path.GetFullPath(path);
        byte[] content;
        try
        {
            var info = new FileInfo(full);
            if (!info.Exists)
            {
                throw new BelayException(ExitCodes.Usage, $"--group-identity {full}: no such file (make one with age-keygen -o FILE)");
            }
            if (info.Length > MaxBytes)
            {
                throw new BelayException(ExitCodes.Usage, $"--group-identity {full} is {info.Length} bytes, not an age identity file (those are a few lines)");
            }
            content = File.ReadAllBytes(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException(ExitCodes.Usage, $"--group-identity {full}: cannot read it: {e.Message}", e);
        }
        IReadOnlyList<AgeIdentity> identities;
        try
        {
            identities = AgeIdentity.ParseFile(new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(content), full);
        }
        catch (Exception e) when (e is AgeException or System.Text.DecoderFallbackException)
        {
            throw new BelayException(ExitCodes.Usage, $"--group-identity {full} is not an age identity file: {(e is AgeException ? e.Message : "it is not UTF-8 text")}", e);
        }
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(full) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
        {
            say($"warning: {full} is readable by other users; Belay's copy is owner-only, but treat this key as exposed if others could read it (and remove the original once installed)");
        }
        return new GroupIdentity(full, content, identities);
    }

    /// <summary>Writes the host's copy (replacing an older one atomically), DPAPI-sealed on Windows; says what it did, never the key.</summary>
    public static void Install(GroupIdentity identity, InstallLayout layout, OwnerOnlyScope scope, Action<string> say) =>
        Install(identity, layout, scope, SecretProtection.ForThisSystem(scope), null, say);

    public static void Install(GroupIdentity identity, InstallLayout layout, OwnerOnlyScope scope, SecretProtection? protection, OwnerOnlyAcl? acl, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(say);
        var target = layout.GroupIdentityFile;
        if (File.Exists(target) && File.ReadAllBytes(target) is var existing && (protection is null || SecretProtection.IsSealed(existing))
            && Unchanged(existing, identity.Content, protection))
        {
            say($"group identity {target} unchanged (recipient {identity.Recipients})");
            return;
        }
        try
        {
            AtomicFile.WriteSecret(target, protection is null ? identity.Content : protection.Seal(identity.Content, target), scope, acl);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException($"cannot write {target}: {e.Message}", e);
        }
        say($"installed the group identity in {target}, readable by its owner only{(protection is null ? "" : " and DPAPI-protected")} (recipient {identity.Recipients})");
    }

    /// <summary>The host's copy holds <paramref name="content"/> (a copy that does not unprotect here counts as changed).</summary>
    private static bool Unchanged(byte[] existing, byte[] content, SecretProtection? protection)
    {
        try
        {
            return SecretProtection.Open(existing, protection, "the group identity").AsSpan().SequenceEqual(content);
        }
        catch (BelayException)
        {
            return false;
        }
    }
}
