using System.ComponentModel;

namespace Belay.Core.Programs.Windows;

/// <summary>
/// The kernel32/advapi32 calls that start and hold programs on Windows, one method per Win32 call
/// and with its parameters, so that a fake records the sequence Windows would see (the native one is
/// <see cref="NativeWindowsProcessApi"/>). Handles are opaque <see cref="nint"/>s, never zero. A call
/// that fails throws a <see cref="WindowsCallException"/> with the call's name and GetLastError.
/// </summary>
public interface IWindowsProcessApi
{
    /// <summary>GetCurrentProcess(): the pseudo handle of this process.</summary>
    nint CurrentProcess { get; }

    /// <summary>CreateJobObjectW(NULL, NULL): an unnamed job.</summary>
    nint CreateJob();

    /// <summary>SetInformationJobObject(JobObjectExtendedLimitInformation) with these LimitFlags and nothing else.</summary>
    void SetJobLimits(nint job, uint limitFlags);

    /// <summary>AssignProcessToJobObject.</summary>
    void AssignToJob(nint job, nint process);

    /// <summary>TerminateJobObject: every process in the job ends with <paramref name="exitCode"/>.</summary>
    void TerminateJob(nint job, uint exitCode);

    /// <summary>CreateNamedPipeW(\\.\pipe\NAME, PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
    /// PIPE_TYPE_BYTE | PIPE_REJECT_REMOTE_CLIENTS, 1 instance, <paramref name="bufferSize"/>): the read end, not inheritable.</summary>
    nint CreateInboundPipe(string name, uint bufferSize);

    /// <summary>CreateFileW(\\.\pipe\NAME, GENERIC_WRITE, OPEN_EXISTING), inheritable: the end a program writes to.</summary>
    nint OpenPipeForWriting(string name);

    /// <summary>CreateFileW("NUL", GENERIC_READ | GENERIC_WRITE), inheritable: a program's stdin.</summary>
    nint OpenNul();

    /// <summary>CreateFileW(path, FILE_APPEND_DATA, share read, write and delete, OPEN_ALWAYS), inheritable: a log for a child's output.</summary>
    nint OpenForAppend(string path);

    /// <summary>
    /// CreateProcessW (or CreateProcessAsUserW with <paramref name="token"/> when it is not zero), with
    /// STARTUPINFOEXW: STARTF_USESTDHANDLES with these three handles, and PROC_THREAD_ATTRIBUTE_HANDLE_LIST
    /// naming only them, so that the program inherits nothing else; CREATE_UNICODE_ENVIRONMENT and
    /// EXTENDED_STARTUPINFO_PRESENT are added to <paramref name="flags"/>. <paramref name="desktop"/> is
    /// lpDesktop (null: this process's; "": the rules for another logon session).
    /// </summary>
    CreatedProcess CreateProcess(string commandLine, uint flags, string environmentBlock, string directory, nint stdin, nint stdout, nint stderr,
        nint token, string? desktop);

    /// <summary>ResumeThread.</summary>
    void ResumeThread(nint thread);

    /// <summary>TerminateProcess.</summary>
    void TerminateProcess(nint process, uint exitCode);

    /// <summary>OpenProcess(access, FALSE, pid).</summary>
    nint OpenProcess(uint access, int pid);

    /// <summary>GetProcessId.</summary>
    int ProcessId(nint process);

    /// <summary>GetExitCodeProcess: <see cref="Win32.StillActive"/> while it runs.</summary>
    uint ExitCode(nint process);

    /// <summary>GetProcessTimes: the creation time (FILETIME ticks), which with the pid names one process.</summary>
    long CreationTime(nint process);

    /// <summary>
    /// DuplicateHandle(source process, handle, target process, &amp;copy, 0, FALSE, DUPLICATE_SAME_ACCESS, plus
    /// DUPLICATE_CLOSE_SOURCE when <paramref name="closeSource"/>): the handle's value in the target process.
    /// With <paramref name="targetProcess"/> zero it only closes the source (and returns zero).
    /// </summary>
    nint DuplicateHandle(nint sourceProcess, nint handle, nint targetProcess, bool closeSource);

    /// <summary>CloseHandle.</summary>
    void CloseHandle(nint handle);

    /// <summary>LookupAccountNameW(NULL, name): the account's domain (as Windows names it: a machine, a domain, NT AUTHORITY)
    /// and its SID_NAME_USE (<see cref="Win32.SidTypeUser"/>, <see cref="Win32.SidTypeWellKnownGroup"/>, ...).</summary>
    AccountLookup LookupAccount(string name);

    /// <summary>LogonUserW(user, domain, password, LOGON32_LOGON_SERVICE, LOGON32_PROVIDER_DEFAULT): a primary token to
    /// close with <see cref="CloseHandle"/>. LocalService and NetworkService (domain NT AUTHORITY) take no password when
    /// the caller is LocalSystem; any other account needs its password and the "Log on as a service" right.</summary>
    nint LogonUser(string user, string? domain, string? password);
}

/// <summary>What CreateProcess returns: both handles (the thread's to resume, then close) and the pid.</summary>
public readonly record struct CreatedProcess(nint Process, nint Thread, int ProcessId);

/// <summary>What LookupAccountName says of a name: the account's domain and the kind of SID (SID_NAME_USE).</summary>
public readonly record struct AccountLookup(string Domain, int Use);

/// <summary>A Win32 call failed: which one, with its error.</summary>
public sealed class WindowsCallException(string call, int error, string? detail = null)
    : Win32Exception(error, $"{call} failed: {Describe(error)}{(detail is null ? "" : $" ({detail})")}")
{
    public string Call { get; } = call;

    public int Error => NativeErrorCode;

    /// <summary>The message Windows has for the error and its number (error messages of the fakes' errors read the same on Linux).</summary>
    public static string Describe(int error) => error switch
    {
        2 => "the file was not found (Windows error 2)",
        3 => "the path was not found (Windows error 3)",
        5 => "access is denied (Windows error 5)",
        87 => "the parameter is incorrect (Windows error 87)",
        193 => "not a valid Windows program (Windows error 193)",
        1314 => "a required privilege is not held by the client (Windows error 1314)",
        1326 => "the user name or password is incorrect (Windows error 1326)",
        1385 => "the user has not been granted the requested logon type (Windows error 1385)",
        1327 => "an account restriction prevents this logon (Windows error 1327)",
        1330 => "the account's password has expired (Windows error 1330)",
        1331 => "the account is disabled (Windows error 1331)",
        1332 => "no mapping between account names and security IDs was done (Windows error 1332)",
        1909 => "the account is locked out (Windows error 1909)",
        _ => $"Windows error {error}",
    };
}

/// <summary>The Win32 constants these calls take (winbase.h, winnt.h, processthreadsapi.h).</summary>
public static class Win32
{
    public const uint StillActive = 259;

    // Creation flags.
    public const uint CreateSuspended = 0x4;
    public const uint CreateNewProcessGroup = 0x200;
    public const uint CreateUnicodeEnvironment = 0x400;
    public const uint CreateBreakawayFromJob = 0x01000000;
    public const uint CreateNoWindow = 0x08000000;
    public const uint ExtendedStartupInfoPresent = 0x00080000;

    // JOBOBJECT_BASIC_LIMIT_INFORMATION.LimitFlags.
    public const uint JobLimitBreakawayOk = 0x800;
    public const uint JobLimitDieOnUnhandledException = 0x400;
    public const uint JobLimitKillOnJobClose = 0x2000;

    // Process access rights.
    public const uint ProcessDupHandle = 0x40;
    public const uint ProcessQueryLimitedInformation = 0x1000;
    public const uint Synchronize = 0x00100000;

    // SID_NAME_USE.
    public const int SidTypeUser = 1;
    public const int SidTypeWellKnownGroup = 5;

    // Errors.
    public const int ErrorAccessDenied = 5;
    public const int ErrorInvalidHandle = 6;
    public const int ErrorBrokenPipe = 109;
    public const int ErrorPipeBusy = 231;
    public const int ErrorPrivilegeNotHeld = 1314;
    public const int ErrorLogonFailure = 1326;
    public const int ErrorNoneMapped = 1332;
    public const int ErrorLogonTypeNotGranted = 1385;
}
