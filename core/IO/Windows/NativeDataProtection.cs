using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Belay.Core.IO.Windows;

/// <summary>
/// DPAPI (crypt32 CryptProtectData/CryptUnprotectData) through source-generated LibraryImports: the
/// native <see cref="IDataProtectionApi"/> that <see cref="SecretProtection"/> uses on Windows for the
/// secrets Belay keeps (config.json's token, hub.json's credential, the group identity). A system
/// install protects for the machine (<c>CRYPTPROTECT_LOCAL_MACHINE</c>: the keeper runs as
/// LocalSystem), a user install for the user; <c>CRYPTPROTECT_UI_FORBIDDEN</c> always (a service
/// has no one to prompt). The owner-only ACL of each file still applies on top.
/// </summary>
[SupportedOSPlatform("windows")]
public sealed unsafe partial class NativeDataProtection : IDataProtectionApi
{
    private const uint UiForbidden = 0x1;
    private const uint LocalMachine = 0x4;

    public int LastError { get; private set; }

    public byte[]? Protect(ReadOnlySpan<byte> data, bool machine) => Transform(data, UiForbidden | (machine ? LocalMachine : 0), protect: true);

    public byte[]? Unprotect(ReadOnlySpan<byte> blob) => Transform(blob, UiForbidden, protect: false);

    private byte[]? Transform(ReadOnlySpan<byte> data, uint flags, bool protect)
    {
        fixed (byte* input = data)
        {
            var blobIn = new DataBlob { Size = (uint)data.Length, Data = input };
            var blobOut = default(DataBlob);
            var ok = protect
                ? CryptProtectData(&blobIn, null, null, null, null, flags, &blobOut)
                : CryptUnprotectData(&blobIn, null, null, null, null, flags, &blobOut);
            if (ok == 0)
            {
                LastError = Marshal.GetLastPInvokeError();
                return null;
            }
            try
            {
                return new ReadOnlySpan<byte>(blobOut.Data, (int)blobOut.Size).ToArray();
            }
            finally
            {
                LocalFree((nint)blobOut.Data);
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct DataBlob
    {
        public uint Size;
        public byte* Data;
    }

    [LibraryImport("crypt32.dll", SetLastError = true)]
    private static partial int CryptProtectData(DataBlob* dataIn, char* description, DataBlob* entropy, void* reserved, void* prompt, uint flags, DataBlob* dataOut);

    [LibraryImport("crypt32.dll", SetLastError = true)]
    private static partial int CryptUnprotectData(DataBlob* dataIn, char** description, DataBlob* entropy, void* reserved, void* prompt, uint flags, DataBlob* dataOut);

    [LibraryImport("kernel32.dll")]
    private static partial nint LocalFree(nint memory);
}
