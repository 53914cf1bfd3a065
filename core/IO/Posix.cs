using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Belay.Core.IO;

/// <summary>The few libc calls the BCL does not offer: fsync of a directory, signals, sessions, the effective uid.</summary>
[UnsupportedOSPlatform("windows")]
public static partial class Posix
{
    private const int ORdOnly = 0;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "rename", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int RenameNative(string from, string to);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "setsid", SetLastError = true)]
    private static partial int SetSid();

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEUid();

    [LibraryImport("libc", EntryPoint = "getppid")]
    private static partial int GetPPid();

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int PrCtl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    private const int PrSetPDeathSig = 1;

    public const int SigTerm = 15;

    /// <summary>The parent's process id: it changes when the parent dies and the process is adopted.</summary>
    public static int ParentId => GetPPid();

    /// <summary>On Linux, asks the kernel to send SIGTERM when the parent dies; elsewhere does nothing.</summary>
    public static void TerminateWithParent()
    {
        if (OperatingSystem.IsLinux())
        {
            _ = PrCtl(PrSetPDeathSig, SigTerm, 0, 0, 0);
        }
    }

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; false if there is no such process.</summary>
    public static bool SendSignal(int pid, int signal) => Kill(pid, signal) == 0;

    /// <summary>True if a process with this id exists (signal 0 checks without sending).</summary>
    /// A zombie (dead, not yet reaped: an orphan under an init that does not reap) is not alive.
    public static bool IsAlive(int pid)
    {
        if (pid <= 0 || (Kill(pid, 0) != 0 && Marshal.GetLastPInvokeError() != 1 /* EPERM: exists, not ours */))
        {
            return false;
        }
        if (OperatingSystem.IsLinux())
        {
            try
            {
                // /proc/<pid>/stat: "pid (comm) S ..."; comm may hold spaces and parentheses.
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var state = stat[(stat.LastIndexOf(')') + 2)..];
                return state.Length > 0 && state[0] is not ('Z' or 'X');
            }
            catch (IOException)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Starts a new session, so that the process outlives the terminal that started it.</summary>
    public static bool NewSession() => SetSid() >= 0;

    public static bool IsRoot => GetEUid() == 0;

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

    /// <summary>
    /// rename(2): replaces <paramref name="to"/> whatever it is (a symbolic link to a folder included,
    /// which File.Move will not), atomically: a reader sees the old or the new, never neither.
    /// </summary>
    public static void Rename(string from, string to)
    {
        if (RenameNative(from, to) != 0)
        {
            throw new IOException($"cannot rename {from} to {to} (errno {Marshal.GetLastPInvokeError()})");
        }
    }
}
