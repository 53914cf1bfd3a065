using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Belay.Core.IO;

/// <summary>
/// The owner and mode of a path, without following a final symbolic link (lstat), through the
/// .NET runtime's own portable native shim (SystemNative_LStat, whose FileStatus struct
/// begins with flags, mode, uid, gid on every Unix), so no per-OS struct stat layout is needed.
/// </summary>
[UnsupportedOSPlatform("windows")]
public static partial class FileOwner
{
    /// <summary>Mode bits (file type included) and owner of <paramref name="path"/>; null when it does not exist or cannot be read.</summary>
    public static unsafe (uint Uid, uint Gid, int Mode)? LStat(string path)
    {
        // Larger than FileStatus (about 136 bytes) on purpose: only the first 16 bytes are read.
        var buffer = stackalloc byte[512];
        try
        {
            if (SystemNativeLStat(path, buffer) != 0)
            {
                return null;
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        var mode = *(int*)(buffer + 4);
        var uid = *(uint*)(buffer + 8);
        var gid = *(uint*)(buffer + 12);
        return (uid, gid, mode);
    }

    /// <summary>The effective uid of this process.</summary>
    public static uint EffectiveUid => GetEUid();

    [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_LStat", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int SystemNativeLStat(string path, byte* output);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEUid();
}
