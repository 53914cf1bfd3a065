using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Belay.Core.IO.Windows;

/// <summary>
/// <see cref="IFileSecurityApi"/> on advapi32 (source-generated LibraryImports, blittable or UTF-16
/// parameters only, so NativeAOT sees all of it). BOOL results are <c>int</c>, non-zero is success.
/// </summary>
[SupportedOSPlatform("windows")]
public sealed unsafe partial class NativeFileSecurity : IFileSecurityApi
{
    private const string Lib = "advapi32.dll";
    private const uint SddlRevision1 = 1;
    private const uint DaclSecurityInformation = 0x4;
    private const int ErrorInsufficientBuffer = 122;

    public int LastError { get; private set; }

    public string CurrentUserSid()
    {
        using var identity = System.Security.Principal.WindowsIdentity.GetCurrent();
        return identity.User?.Value ?? throw new InvalidOperationException("this process has no user SID");
    }

    public nint SecurityDescriptorFromSddl(string sddl)
    {
        nint descriptor;
        if (ConvertStringSecurityDescriptorToSecurityDescriptor(sddl, SddlRevision1, &descriptor, null) == 0)
        {
            LastError = Marshal.GetLastPInvokeError();
            return 0;
        }
        return descriptor;
    }

    public bool SetFileDacl(string path, nint descriptor)
    {
        if (SetFileSecurity(path, DaclSecurityInformation, descriptor) == 0)
        {
            LastError = Marshal.GetLastPInvokeError();
            return false;
        }
        return true;
    }

    public string? GetFileDaclSddl(string path)
    {
        uint needed = 0;
        if (GetFileSecurity(path, DaclSecurityInformation, null, 0, &needed) == 0 && Marshal.GetLastPInvokeError() is var error && error != ErrorInsufficientBuffer)
        {
            LastError = error;
            return null;
        }
        var buffer = new byte[Math.Max(needed, 20u)];
        fixed (byte* descriptor = buffer)
        {
            if (GetFileSecurity(path, DaclSecurityInformation, descriptor, (uint)buffer.Length, &needed) == 0)
            {
                LastError = Marshal.GetLastPInvokeError();
                return null;
            }
            char* text;
            if (ConvertSecurityDescriptorToStringSecurityDescriptor(descriptor, SddlRevision1, DaclSecurityInformation, &text, null) == 0)
            {
                LastError = Marshal.GetLastPInvokeError();
                return null;
            }
            try
            {
                return new string(text);
            }
            finally
            {
                LocalFree((nint)text);
            }
        }
    }

    public void LocalFree(nint memory)
    {
        if (memory != 0)
        {
            _ = LocalFreeNative(memory);
        }
    }

    [LibraryImport(Lib, EntryPoint = "ConvertStringSecurityDescriptorToSecurityDescriptorW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    private static partial int ConvertStringSecurityDescriptorToSecurityDescriptor(string sddl, uint revision, nint* descriptor, uint* size);

    [LibraryImport(Lib, EntryPoint = "ConvertSecurityDescriptorToStringSecurityDescriptorW", SetLastError = true)]
    private static partial int ConvertSecurityDescriptorToStringSecurityDescriptor(void* descriptor, uint revision, uint information, char** sddl, uint* length);

    [LibraryImport(Lib, EntryPoint = "SetFileSecurityW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    private static partial int SetFileSecurity(string path, uint information, nint descriptor);

    [LibraryImport(Lib, EntryPoint = "GetFileSecurityW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    private static partial int GetFileSecurity(string path, uint information, void* descriptor, uint length, uint* needed);

    [LibraryImport("kernel32.dll", EntryPoint = "LocalFree")]
    private static partial nint LocalFreeNative(nint memory);
}
