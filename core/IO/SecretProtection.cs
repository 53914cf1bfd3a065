using System.Text;

namespace Belay.Core.IO;

/// <summary>
/// The calls to crypt32 that <see cref="SecretProtection"/> makes, one method per call, so that tests on
/// any OS check the sequence through a fake (the native one is <see cref="Windows.NativeDataProtection"/>).
/// </summary>
public interface IDataProtectionApi
{
    /// <summary>CryptProtectData, for the machine (<c>CRYPTPROTECT_LOCAL_MACHINE</c>) or the calling user: the blob, or null.</summary>
    byte[]? Protect(ReadOnlySpan<byte> data, bool machine);

    /// <summary>CryptUnprotectData: the data, or null (a blob from another machine or user, or damaged).</summary>
    byte[]? Unprotect(ReadOnlySpan<byte> blob);

    /// <summary>The Win32 error of the last call that failed.</summary>
    int LastError { get; }
}

/// <summary>
/// Secrets at rest on Windows (docs/security.md, "Files"): DPAPI on top of the owner-only ACL, so that a
/// copy of the file taken off the machine (a backup, a disk image) is useless. A system install
/// protects for the machine, a user install for the user. Text values (config.json's token, hub.json's
/// credential) are kept as base64 blobs in their own JSON field; a whole file (the group identity) is
/// sealed as the line <see cref="Marker"/> followed by the blob in base64. On other systems there is no
/// DPAPI: <see cref="ForThisSystem"/> is null there and the file's mode (0600) is the protection.
/// </summary>
public sealed class SecretProtection(IDataProtectionApi api, OwnerOnlyScope scope)
{
    /// <summary>The first line of a sealed file.</summary>
    public const string Marker = "belay-dpapi-v1";

    /// <summary>DPAPI on Windows, for <paramref name="scope"/>; null elsewhere.</summary>
    public static SecretProtection? ForThisSystem(OwnerOnlyScope scope) =>
        OperatingSystem.IsWindows() ? new SecretProtection(new Windows.NativeDataProtection(), scope) : null;

    public OwnerOnlyScope Scope => scope;

    /// <summary>The value protected, as base64.</summary>
    public string ProtectText(string value, string what)
    {
        ArgumentNullException.ThrowIfNull(value);
        return Convert.ToBase64String(Protect(Encoding.UTF8.GetBytes(value), what));
    }

    /// <summary>The value a <see cref="ProtectText"/> blob holds; a clear error when it does not unprotect here.</summary>
    public string UnprotectText(string protectedValue, string what)
    {
        ArgumentNullException.ThrowIfNull(protectedValue);
        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(protectedValue);
        }
        catch (FormatException e)
        {
            throw new BelayException($"{what} is not a DPAPI blob in base64 (the file was edited?); set it again", e);
        }
        return Encoding.UTF8.GetString(Unprotect(blob, what));
    }

    /// <summary>A whole file's content, sealed: <see cref="Marker"/>, a newline, the blob in base64, a newline.</summary>
    public byte[] Seal(ReadOnlySpan<byte> content, string what) =>
        Encoding.ASCII.GetBytes($"{Marker}\n{Convert.ToBase64String(Protect(content, what))}\n");

    /// <summary>True when <paramref name="content"/> was written by <see cref="Seal"/>.</summary>
    public static bool IsSealed(ReadOnlySpan<byte> content) =>
        content.StartsWith(Encoding.ASCII.GetBytes(Marker + "\n")) || content.StartsWith(Encoding.ASCII.GetBytes(Marker + "\r\n"));

    /// <summary>
    /// A file's content as it was before sealing; plain content (a file written before protection existed) as it is.
    /// <paramref name="protection"/> null (not Windows) and a sealed file: a clear error.
    /// </summary>
    public static byte[] Open(ReadOnlySpan<byte> content, SecretProtection? protection, string what)
    {
        if (!IsSealed(content))
        {
            return content.ToArray();
        }
        if (protection is null)
        {
            throw new BelayException($"{what} is DPAPI-protected, which only the Windows machine that wrote it can read");
        }
        var text = Encoding.ASCII.GetString(content).Split('\n', 3);
        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(text.Length > 1 ? text[1].Trim() : "");
        }
        catch (FormatException e)
        {
            throw new BelayException($"{what} starts with {Marker} but what follows is not base64 (the file was edited?); install it again", e);
        }
        return protection.Unprotect(blob, what);
    }

    private byte[] Protect(ReadOnlySpan<byte> data, string what) =>
        api.Protect(data, machine: scope == OwnerOnlyScope.System)
        ?? throw new BelayException($"cannot protect {what} with DPAPI (Windows error {api.LastError}); nothing was written");

    private byte[] Unprotect(ReadOnlySpan<byte> blob, string what) =>
        api.Unprotect(blob)
        ?? throw new BelayException($"{what} does not unprotect on this machine (Windows error {api.LastError}): it was written on another machine or by another user, or is damaged; set it again (belay install with this installation's options)");
}
