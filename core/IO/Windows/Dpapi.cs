using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Belay.Core.IO.Windows;

/// <summary>
/// DPAPI (crypt32 CryptProtectData/CryptUnprotectData) through source-generated LibraryImports,
/// for secrets kept on a Windows host: the hub credential is stored protected, so that a copy of
/// the file taken off the machine (a backup, an image) is useless. A system install protects it
/// for the machine (<c>CRYPTPROTECT_LOCAL_MACHINE</c>: the keeper runs as LocalSystem), a user
/// install for the user. The owner-only ACL of the file still applies on top.
/// </summary>
[SupportedOSPlatform("windows")]
public static unsafe partial class Dpapi
{
    private const uint UiForbidden = 0x1;
    private const uint LocalMachine = 0x4;

    public static byte[] Protect(ReadOnlySpan<byte> data, bool machine) => Transform(data, machine, protect: true);

    public static byte[] Unprotect(ReadOnlySpan<byte> data) => Transform(data, machine: false, protect: false);

    private static byte[] Transform(ReadOnlySpan<byte> data, bool machine, bool protect)
    {
        fixed (byte* input = data)
        {
            var blobIn = new DataBlob { Size = (uint)data.Length, Data = input };
            var blobOut = default(DataBlob);
            var flags = UiForbidden | (machine ? LocalMachine : 0);
            var ok = protect
                ? CryptProtectData(&blobIn, null, null, null, null, flags, &blobOut)
                : CryptUnprotectData(&blobIn, null, null, null, null, flags, &blobOut);
            if (ok == 0)
            {
                throw new BelayException($"DPAPI {(protect ? "protect" : "unprotect")} failed (Windows error {Marshal.GetLastPInvokeError()})");
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
