using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Belay.Core.IO;

/// <summary>The few libc calls the BCL does not offer (fsync of a directory).</summary>
[UnsupportedOSPlatform("windows")]
internal static partial class Posix
{
    private const int ORdOnly = 0;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    /// <summary>Flushes a directory's entries (a rename inside it) to disk.</summary>
    public static void FSyncDirectory(string path)
    {
        var fd = Open(path, ORdOnly);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {path} to flush it (errno {Marshal.GetLastPInvokeError()})");
        }
        try
        {
            // Some file systems refuse fsync on a directory (EINVAL); the rename is then as
            // durable as that file system makes it, and there is nothing more to do.
            _ = FSync(fd);
        }
        finally
        {
            _ = Close(fd);
        }
    }
}
