using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Belay.Core.IO;

/// <summary>
/// The libc calls a supervisor needs and the BCL does not offer: FIFOs, poll(2), process
/// groups, reaping by pid, the child subreaper flag, and what `belay-agent exec` does
/// before execve (setsid, dup2, initgroups, setgid, setuid). Source-generated imports, so
/// NativeAOT and trimming see every call.
/// Hazard: fork() is unsafe inside the .NET runtime, so nothing here forks; a program is
/// started by Process.Start of `belay-agent exec`, which sets itself up and execs in place.
/// </summary>
[UnsupportedOSPlatform("windows")]
public static partial class PosixProcess
{
    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int MkFifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int CloseFd(int fd);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int FTruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "pipe", SetLastError = true)]
    private static unsafe partial int Pipe(int* fds);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    private static partial int Dup2(int from, int to);

    [LibraryImport("libc", EntryPoint = "setsid", SetLastError = true)]
    private static partial int SetSid();

    [LibraryImport("libc", EntryPoint = "setpgid", SetLastError = true)]
    private static partial int SetPGid(int pid, int pgid);

    [LibraryImport("libc", EntryPoint = "chdir", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int ChDir(string path);

    [LibraryImport("libc", EntryPoint = "initgroups", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int InitGroups(string user, uint gid);

    [LibraryImport("libc", EntryPoint = "setgroups", SetLastError = true)]
    private static unsafe partial int SetGroups(nuint count, uint* groups);

    [LibraryImport("libc", EntryPoint = "setgid", SetLastError = true)]
    private static partial int SetGid(uint gid);

    [LibraryImport("libc", EntryPoint = "setuid", SetLastError = true)]
    private static partial int SetUid(uint uid);

    [LibraryImport("libc", EntryPoint = "getuid")]
    private static partial uint GetUid();

    [LibraryImport("libc", EntryPoint = "execvp", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int ExecVp(string file, string?[] argv);

    // Not named Signal: the public Signal(int pid, int signal) below would win the overload for an int literal
    // handler (SIG_DFL is 0), and a reset meant for this process sent kill(s, 0) instead.
    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial nint SetDisposition(int signal, nint handler);

    [LibraryImport("libc", EntryPoint = "sigaction", SetLastError = true)]
    private static unsafe partial int SigAction(int signal, void* action, void* previous);

    [LibraryImport("libc", EntryPoint = "sigprocmask", SetLastError = true)]
    private static unsafe partial int SigProcMask(int how, byte* set, byte* old);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    private static unsafe partial int WaitPid(int pid, int* status, int options);

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int PrCtl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "getpwnam")]
    private static unsafe partial PasswdEntry* GetPwNam([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    [LibraryImport("libc", EntryPoint = "getgrnam")]
    private static unsafe partial GroupEntry* GetGrNam([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    // struct passwd begins { char *pw_name; char *pw_passwd; uid_t pw_uid; gid_t pw_gid; ... }
    // on Linux, macOS and illumos alike; only these fields are read.
    [StructLayout(LayoutKind.Sequential)]
    private struct PasswdEntry
    {
        public nint Name;
        public nint Password;
        public uint Uid;
        public uint Gid;
    }

    // struct group begins { char *gr_name; char *gr_passwd; gid_t gr_gid; ... } everywhere.
    [StructLayout(LayoutKind.Sequential)]
    private struct GroupEntry
    {
        public nint Name;
        public nint Password;
        public uint Gid;
    }

    private const short PollIn = 0x1;
    private const int FGetFl = 3;
    private const int FSetFl = 4;
    private const int FSetFd = 2;
    private const int FdCloExec = 1;
    private const int PrSetPDeathSig = 1;
    private const int PrSetChildSubreaper = 36;
    private const int WNoHang = 1;
    private const int SigSetMask = 2;

    public const int SigKill = 9;
    public const int SigTerm = 15;

    /// <summary>SIGUSR2: the keeper's "hand over" request to the agent (exit, leave the programs running).</summary>
    public static int SigUsr2 => OperatingSystem.IsLinux() ? 12 : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? 31 : 17;

    /// <summary>SIGHUP: reload the programs config.</summary>
    public const int SigHup = 1;

    public static int LastError => Marshal.GetLastPInvokeError();

    private static int ReadWrite => 2;

    private static int NonBlock => OperatingSystem.IsLinux() ? 0x800 : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? 0x4 : 0x80;

    private static int EAgain => OperatingSystem.IsLinux() ? 11 : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? 35 : 11;

    private static int EIntr => 4;

    private static int EExist => 17;

    /// <summary>Creates a FIFO with mode 0600 unless one is already there.</summary>
    public static void MakeFifo(string path)
    {
        if (MkFifo(path, 0x180) != 0 && LastError != EExist)
        {
            throw new IOException($"cannot create the FIFO {path} (errno {LastError})");
        }
    }

    /// <summary>Opens a FIFO read-write and non-blocking: a read end that never sees EOF or
    /// POLLHUP, because this process also holds a write end.</summary>
    public static int OpenFifoNonBlocking(string path)
    {
        var fd = Open(path, ReadWrite | NonBlock, 0);
        if (fd < 0)
        {
            throw new IOException($"cannot open the FIFO {path} (errno {LastError})");
        }
        _ = Fcntl(fd, FSetFd, FdCloExec);
        return fd;
    }

    /// <summary>Opens a FIFO read-write and blocking, inheritable: what a program writes its output to.</summary>
    public static int OpenFifoForProgram(string path) => Open(path, ReadWrite, 0);

    public static int OpenDevNull() => Open("/dev/null", ReadWrite, 0);

    public static void Close(int fd) => _ = CloseFd(fd);

    /// <summary>A non-blocking pipe (read end, write end), close-on-exec: wakes a poll loop.</summary>
    public static unsafe (int Read, int Write) WakePipe()
    {
        var fds = stackalloc int[2];
        if (Pipe(fds) != 0)
        {
            throw new IOException($"cannot create a pipe (errno {LastError})");
        }
        for (var i = 0; i < 2; i++)
        {
            _ = Fcntl(fds[i], FSetFl, Fcntl(fds[i], FGetFl, 0) | NonBlock);
            _ = Fcntl(fds[i], FSetFd, FdCloExec);
        }
        return (fds[0], fds[1]);
    }

    /// <summary>Reads what is there: bytes read, 0 when nothing is (EAGAIN), -1 on another error.</summary>
    public static unsafe int ReadAvailable(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = Read(fd, p, (nuint)buffer.Length);
                if (n >= 0)
                {
                    return (int)n;
                }
                var errno = LastError;
                if (errno == EIntr)
                {
                    continue;
                }
                return errno == EAgain ? 0 : -1;
            }
        }
    }

    public static unsafe void WriteByte(int fd, byte value) => _ = Write(fd, &value, 1);

    /// <summary>Writes all of <paramref name="data"/> to <paramref name="fd"/> (retrying on EINTR and short writes): 0, or the errno.</summary>
    public static unsafe int WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* start = data)
        {
            var p = start;
            var left = data.Length;
            while (left > 0)
            {
                var n = Write(fd, p, (nuint)left);
                if (n < 0)
                {
                    var errno = LastError;
                    if (errno == EIntr)
                    {
                        continue;
                    }
                    return errno;
                }
                p += n;
                left -= (int)n;
            }
        }
        return 0;
    }

    /// <summary>
    /// Appends one whole line to <paramref name="fd"/>, or nothing: when <paramref name="fd"/> is a regular file and the
    /// write stops short (a full disk), the part written is cut off again (unless another writer appended after it
    /// meanwhile), so the file never holds half a line that the next line would run into. Pipes, sockets and
    /// terminals are written as they are (a line of up to PIPE_BUF bytes is atomic there). 0 or errno.
    /// </summary>
    public static unsafe int AppendLine(int fd, ReadOnlySpan<byte> line)
    {
        const int SeekEnd = 2;
        var before = LSeek(fd, 0, SeekEnd);
        if (before < 0)
        {
            return WriteAll(fd, line); // not a file: nothing to cut back
        }
        fixed (byte* start = line)
        {
            var written = 0;
            while (written < line.Length)
            {
                var n = Write(fd, start + written, (nuint)(line.Length - written));
                if (n < 0)
                {
                    var errno = LastError;
                    if (errno == EIntr)
                    {
                        continue;
                    }
                    if (written > 0 && LSeek(fd, 0, SeekEnd) == before + written)
                    {
                        _ = FTruncate(fd, before);
                    }
                    return errno;
                }
                written += (int)n;
            }
        }
        return 0;
    }

    /// <summary>Waits until one of <paramref name="fds"/> is readable or the timeout passes
    /// (-1: forever); <paramref name="ready"/>[i] says which.</summary>
    public static unsafe int PollReadable(ReadOnlySpan<int> fds, Span<bool> ready, int timeoutMs)
    {
        var entries = fds.Length <= 64 ? stackalloc PollFd[fds.Length] : new PollFd[fds.Length];
        for (var i = 0; i < fds.Length; i++)
        {
            entries[i] = new PollFd { Fd = fds[i], Events = PollIn };
        }
        int n;
        fixed (PollFd* p = entries)
        {
            n = Poll(p, (nuint)fds.Length, timeoutMs);
        }
        for (var i = 0; i < fds.Length; i++)
        {
            ready[i] = n > 0 && entries[i].REvents != 0;
        }
        return n;
    }

    /// <summary>Sends a signal to a whole process group; false when the group is empty.</summary>
    public static bool SignalGroup(int pgid, int signal) => pgid > 1 && Kill(-pgid, signal) == 0;

    public static bool Signal(int pid, int signal) => pid > 0 && Kill(pid, signal) == 0;

    /// <summary>Reaps <paramref name="pid"/> if it is a child that has exited: its raw wait status, else null.
    /// Never waits for "any child": that would steal the exit of a child .NET's Process waits for.</summary>
    public static unsafe int? TryReap(int pid)
    {
        if (pid <= 1)
        {
            return null;
        }
        int status;
        return WaitPid(pid, &status, WNoHang) == pid ? status : null;
    }

    /// <summary>Describes a raw wait status: "exit 3" or "signal 9".</summary>
    public static string DescribeWaitStatus(int status) =>
        (status & 0x7f) == 0 ? $"exit {(status >> 8) & 0xff}" : $"signal {status & 0x7f}";

    /// <summary>Linux: orphaned descendants are reparented to this process instead of PID 1. False elsewhere.</summary>
    public static bool BecomeChildSubreaper() => OperatingSystem.IsLinux() && PrCtl(PrSetChildSubreaper, 1, 0, 0, 0) == 0;

    /// <summary>Linux: the kernel sends <paramref name="signal"/> when the parent dies.</summary>
    public static void SignalOnParentDeath(int signal)
    {
        if (OperatingSystem.IsLinux())
        {
            _ = PrCtl(PrSetPDeathSig, (nuint)signal, 0, 0, 0);
        }
    }

    /// <summary>The process's start time in clock ticks since boot (/proc/PID/stat field 22), or 0
    /// where there is no /proc: with the pid it names one process, whatever reuses the pid later.</summary>
    public static long StartTime(int pid)
    {
        if (!OperatingSystem.IsLinux() || pid <= 0)
        {
            return 0;
        }
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
            return fields.Length > 19 && long.TryParse(fields[19], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var t) ? t : -1;
        }
        catch (IOException)
        {
            return -1;
        }
    }

    /// <summary>True when <paramref name="pid"/> runs (not a zombie) and, where known, started at <paramref name="startTime"/>.</summary>
    public static bool IsSameProcessAlive(int pid, long startTime) =>
        Posix.IsAlive(pid) && (startTime <= 0 || StartTime(pid) == startTime);

    public static uint RealUid => GetUid();

    /// <summary>The uid and primary gid of a user name (or a numeric uid); null when unknown.</summary>
    public static unsafe (uint Uid, uint Gid)? LookUpUser(string name)
    {
        var entry = GetPwNam(name);
        if (entry is not null)
        {
            return (entry->Uid, entry->Gid);
        }
        return uint.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var uid) ? (uid, uid) : null;
    }

    public static unsafe uint? LookUpGroup(string name)
    {
        var entry = GetGrNam(name);
        if (entry is not null)
        {
            return entry->Gid;
        }
        return uint.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var gid) ? gid : null;
    }

    // What `belay-agent exec` does, in this order, before execvp. Each returns errno or 0.

    public static int NewSession() => SetSid() >= 0 ? 0 : LastError;

    /// <summary>Makes this process the leader of a new process group in its session (setpgid(0, 0)); 0 or errno.</summary>
    public static int NewProcessGroup() => SetPGid(0, 0) == 0 ? 0 : LastError;

    public static int Redirect(int from, int to) => Dup2(from, to) >= 0 ? 0 : LastError;

    public static int ChangeDirectory(string path) => ChDir(path) == 0 ? 0 : LastError;

    /// <summary>Supplementary groups of <paramref name="user"/> (or none when the user has no name), then gid, then uid.</summary>
    public static unsafe int DropPrivileges(string? user, uint uid, uint gid)
    {
        if (user is not null ? InitGroups(user, gid) != 0 : SetGroups(1, &gid) != 0)
        {
            return LastError;
        }
        if (SetGid(gid) != 0)
        {
            return LastError;
        }
        return SetUid(uid) == 0 ? 0 : LastError;
    }

    private const nint SigDfl = 0;
    private const nint SigIgn = 1;

    /// <summary>Undoes what the .NET runtime did to signals (SIGPIPE ignored, a mask) so that the program starts with defaults.</summary>
    public static unsafe void ResetSignals()
    {
        // SIG_DFL for every classic signal; the kernel refuses SIGKILL and SIGSTOP, which is harmless.
        for (var s = 1; s < 32; s++)
        {
            _ = SetDisposition(s, SigDfl);
        }
        var empty = stackalloc byte[128];
        new Span<byte>(empty, 128).Clear();
        _ = SigProcMask(SigSetMask, empty, null);
    }

    /// <summary>
    /// SIGINT and SIGQUIT back to their default action when this process inherited them ignored, which a shell
    /// does to every command of an asynchronous list (`cmd &amp;`, POSIX) and which survives exec. The .NET runtime
    /// leaves an ignored SIGINT or SIGQUIT ignored (a <see cref="System.Runtime.InteropServices.PosixSignalRegistration"/>
    /// for it never fires), so a daemon that must stop cleanly on SIGINT calls this first thing in Main, before
    /// anything starts the runtime's signal handling (Console, Process, a PosixSignalRegistration). Only an
    /// inherited SIG_IGN is changed: a handler already installed is left as it is.
    /// </summary>
    public static unsafe void StopIgnoringInterrupts()
    {
        // struct sigaction begins with the handler on Linux (glibc, musl) and macOS; illumos puts an int of flags first.
        var illumos = !OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD();
        var handlerOffset = illumos ? sizeof(nint) : 0;
        var buffer = stackalloc byte[256];
        foreach (var signal in (ReadOnlySpan<int>)[2 /* SIGINT */, 3 /* SIGQUIT */])
        {
            new Span<byte>(buffer, 256).Clear();
            if (SigAction(signal, null, buffer) == 0 && *(nint*)(buffer + handlerOffset) == SigIgn)
            {
                _ = SetDisposition(signal, SigDfl);
            }
        }
    }

    /// <summary>Replaces this process with <paramref name="argv"/>[0], searched on PATH. Returns only on failure, with errno.</summary>
    public static int Exec(IReadOnlyList<string> argv)
    {
        ArgumentNullException.ThrowIfNull(argv);
        var args = new string?[argv.Count + 1];
        for (var i = 0; i < argv.Count; i++)
        {
            args[i] = argv[i];
        }
        _ = ExecVp(argv[0], args);
        return LastError;
    }
}
