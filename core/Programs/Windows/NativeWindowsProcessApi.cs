using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Belay.Core.Programs.Windows;

/// <summary>
/// <see cref="IWindowsProcessApi"/> on kernel32 and advapi32: source-generated LibraryImports with
/// blittable or UTF-16 parameters only, so NativeAOT and trimming see every call. BOOL results are
/// <c>int</c>, non-zero is success; every failure becomes a <see cref="WindowsCallException"/>.
/// </summary>
[SupportedOSPlatform("windows")]
public sealed unsafe partial class NativeWindowsProcessApi : IWindowsProcessApi
{
    public static NativeWindowsProcessApi Instance { get; } = new();

    private const string Kernel32 = "kernel32.dll";
    private const int JobObjectExtendedLimitInformation = 9;
    private const uint PipeAccessInbound = 0x1;
    private const uint FileFlagOverlapped = 0x40000000;
    private const uint FileFlagFirstPipeInstance = 0x80000;
    private const uint PipeRejectRemoteClients = 0x8;
    private const uint GenericRead = 0x80000000;
    private const uint GenericWrite = 0x40000000;
    private const uint OpenExisting = 3;
    private const uint OpenAlways = 4;
    private const uint FileAppendData = 0x4;
    private const uint StartfUseStdHandles = 0x100;
    private const nint ProcThreadAttributeHandleList = 0x20002;
    private const uint DuplicateCloseSource = 0x1;
    private const uint DuplicateSameAccess = 0x2;
    private const uint Logon32LogonService = 5;
    private const uint Logon32ProviderDefault = 0;
    private const int SecurityMaxSidSize = 68;
    private static readonly nint InvalidHandle = -1;

    public nint CurrentProcess => GetCurrentProcess();

    public nint CreateJob()
    {
        var job = CreateJobObject(null, null);
        return job != 0 ? job : throw Fail("CreateJobObject");
    }

    public void SetJobLimits(nint job, uint limitFlags)
    {
        var info = default(JobExtendedLimitInformation);
        info.Basic.LimitFlags = limitFlags;
        Check(SetInformationJobObject(job, JobObjectExtendedLimitInformation, &info, (uint)sizeof(JobExtendedLimitInformation)), "SetInformationJobObject");
    }

    public void AssignToJob(nint job, nint process) => Check(AssignProcessToJobObject(job, process), "AssignProcessToJobObject");

    public void TerminateJob(nint job, uint exitCode) => Check(TerminateJobObject(job, exitCode), "TerminateJobObject");

    public nint CreateInboundPipe(string name, uint bufferSize)
    {
        var handle = CreateNamedPipe(@"\\.\pipe\" + name, PipeAccessInbound | FileFlagOverlapped | FileFlagFirstPipeInstance,
            PipeRejectRemoteClients, 1, 0, bufferSize, 0, null);
        return handle != InvalidHandle ? handle : throw Fail("CreateNamedPipe", name);
    }

    public nint OpenPipeForWriting(string name) => OpenInheritable(@"\\.\pipe\" + name, GenericWrite, OpenExisting);

    public nint OpenNul() => OpenInheritable("NUL", GenericRead | GenericWrite, OpenExisting);

    public nint OpenForAppend(string path) => OpenInheritable(path, FileAppendData, OpenAlways);

    private static nint OpenInheritable(string path, uint access, uint disposition)
    {
        var attributes = new SecurityAttributes { Length = (uint)sizeof(SecurityAttributes), Inherit = 1 };
        var handle = CreateFile(path, access, 0x7 /* FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE */, &attributes, disposition, 0, 0);
        return handle != InvalidHandle ? handle : throw Fail("CreateFile", path);
    }

    public CreatedProcess CreateProcess(string commandLine, uint flags, string environmentBlock, string directory, nint stdin, nint stdout, nint stderr,
        nint token, string? desktop)
    {
        ArgumentNullException.ThrowIfNull(commandLine);
        ArgumentNullException.ThrowIfNull(environmentBlock);
        var handles = stackalloc nint[3];
        var count = 0;
        foreach (var h in (ReadOnlySpan<nint>)[stdin, stdout, stderr])
        {
            var seen = false;
            for (var i = 0; i < count; i++)
            {
                seen |= handles[i] == h;
            }
            if (!seen)
            {
                handles[count++] = h;
            }
        }
        nuint size = 0;
        _ = InitializeProcThreadAttributeList(null, 1, 0, &size);
        var list = NativeMemory.Alloc(size);
        try
        {
            Check(InitializeProcThreadAttributeList(list, 1, 0, &size), "InitializeProcThreadAttributeList");
            try
            {
                Check(UpdateProcThreadAttribute(list, 0, ProcThreadAttributeHandleList, handles, (nuint)(count * sizeof(nint)), null, null), "UpdateProcThreadAttribute");
                // CreateProcessW may write into the command line: it gets a copy.
                var line = (commandLine + "\0").ToCharArray();
                fixed (char* cmd = line)
                fixed (char* env = environmentBlock)
                fixed (char* dir = directory)
                fixed (char* desk = desktop)
                {
                    var info = new StartupInfoEx
                    {
                        StartupInfo = new StartupInfo
                        {
                            Size = (uint)sizeof(StartupInfoEx),
                            Desktop = desk,
                            Flags = StartfUseStdHandles,
                            StdInput = stdin,
                            StdOutput = stdout,
                            StdError = stderr,
                        },
                        AttributeList = list,
                    };
                    ProcessInformation created;
                    var allFlags = flags | Win32.CreateUnicodeEnvironment | Win32.ExtendedStartupInfoPresent;
                    var ok = token == 0
                        ? CreateProcessW(null, cmd, null, null, 1, allFlags, env, dir, &info, &created)
                        : CreateProcessAsUserW(token, null, cmd, null, null, 1, allFlags, env, dir, &info, &created);
                    if (ok == 0)
                    {
                        throw Fail(token == 0 ? "CreateProcess" : "CreateProcessAsUser", commandLine);
                    }
                    return new CreatedProcess(created.Process, created.Thread, (int)created.ProcessId);
                }
            }
            finally
            {
                DeleteProcThreadAttributeList(list);
            }
        }
        finally
        {
            NativeMemory.Free(list);
        }
    }

    public void ResumeThread(nint thread)
    {
        if (ResumeThreadNative(thread) == uint.MaxValue)
        {
            throw Fail("ResumeThread");
        }
    }

    public void TerminateProcess(nint process, uint exitCode) => Check(TerminateProcessNative(process, exitCode), "TerminateProcess");

    public nint OpenProcess(uint access, int pid)
    {
        var handle = OpenProcessNative(access, 0, (uint)pid);
        return handle != 0 ? handle : throw Fail("OpenProcess", $"pid {pid}");
    }

    public int ProcessId(nint process)
    {
        var pid = GetProcessId(process);
        return pid != 0 ? (int)pid : throw Fail("GetProcessId");
    }

    public uint ExitCode(nint process)
    {
        uint code;
        Check(GetExitCodeProcess(process, &code), "GetExitCodeProcess");
        return code;
    }

    public long CreationTime(nint process)
    {
        long creation, exit, kernel, user;
        Check(GetProcessTimes(process, &creation, &exit, &kernel, &user), "GetProcessTimes");
        return creation;
    }

    public nint DuplicateHandle(nint sourceProcess, nint handle, nint targetProcess, bool closeSource)
    {
        nint copy = 0;
        var options = (targetProcess == 0 ? 0 : DuplicateSameAccess) | (closeSource ? DuplicateCloseSource : 0);
        Check(DuplicateHandleNative(sourceProcess, handle, targetProcess, targetProcess == 0 ? null : &copy, 0, 0, options), "DuplicateHandle");
        return copy;
    }

    public void CloseHandle(nint handle) => Check(CloseHandleNative(handle), "CloseHandle");

    public AccountLookup LookupAccount(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var sid = stackalloc byte[SecurityMaxSidSize];
        var sidSize = (uint)SecurityMaxSidSize;
        var domain = stackalloc char[256];
        var domainSize = 256u;
        int use;
        Check(LookupAccountName(null, name, sid, &sidSize, domain, &domainSize, &use), "LookupAccountName", name);
        return new AccountLookup(new string(domain, 0, (int)domainSize), use);
    }

    public nint LogonUser(string user, string? domain, string? password)
    {
        nint token;
        Check(LogonUserNative(user, domain, password, Logon32LogonService, Logon32ProviderDefault, &token), "LogonUser", domain is null ? user : $@"{domain}\{user}");
        return token;
    }

    private static void Check(int ok, string call, string? detail = null)
    {
        if (ok == 0)
        {
            throw Fail(call, detail);
        }
    }

    private static WindowsCallException Fail(string call, string? detail = null) => new(call, Marshal.GetLastPInvokeError(), detail);

    [StructLayout(LayoutKind.Sequential)]
    private struct SecurityAttributes
    {
        public uint Length;
        public nint Descriptor;
        public int Inherit;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct JobBasicLimitInformation
    {
        public long PerProcessUserTimeLimit;
        public long PerJobUserTimeLimit;
        public uint LimitFlags;
        public nuint MinimumWorkingSetSize;
        public nuint MaximumWorkingSetSize;
        public uint ActiveProcessLimit;
        public nuint Affinity;
        public uint PriorityClass;
        public uint SchedulingClass;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoCounters
    {
        public ulong ReadOperationCount;
        public ulong WriteOperationCount;
        public ulong OtherOperationCount;
        public ulong ReadTransferCount;
        public ulong WriteTransferCount;
        public ulong OtherTransferCount;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct JobExtendedLimitInformation
    {
        public JobBasicLimitInformation Basic;
        public IoCounters IoInfo;
        public nuint ProcessMemoryLimit;
        public nuint JobMemoryLimit;
        public nuint PeakProcessMemoryUsed;
        public nuint PeakJobMemoryUsed;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct StartupInfo
    {
        public uint Size;
        public char* Reserved;
        public char* Desktop;
        public char* Title;
        public uint X;
        public uint Y;
        public uint XSize;
        public uint YSize;
        public uint XCountChars;
        public uint YCountChars;
        public uint FillAttribute;
        public uint Flags;
        public ushort ShowWindow;
        public ushort Reserved2Size;
        public byte* Reserved2;
        public nint StdInput;
        public nint StdOutput;
        public nint StdError;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct StartupInfoEx
    {
        public StartupInfo StartupInfo;
        public void* AttributeList;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct ProcessInformation
    {
        public nint Process;
        public nint Thread;
        public uint ProcessId;
        public uint ThreadId;
    }

    [LibraryImport(Kernel32)]
    private static partial nint GetCurrentProcess();

    [LibraryImport(Kernel32, EntryPoint = "CreateJobObjectW", SetLastError = true)]
    private static partial nint CreateJobObject(SecurityAttributes* attributes, char* name);

    [LibraryImport(Kernel32, SetLastError = true)]
    private static partial int SetInformationJobObject(nint job, int infoClass, void* info, uint length);

    [LibraryImport(Kernel32, SetLastError = true)]
    private static partial int AssignProcessToJobObject(nint job, nint process);

    [LibraryImport(Kernel32, SetLastError = true)]
    private static partial int TerminateJobObject(nint job, uint exitCode);

    [LibraryImport(Kernel32, EntryPoint = "CreateNamedPipeW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    private static partial nint CreateNamedPipe(string name, uint openMode, uint pipeMode, uint maxInstances, uint outBuffer, uint inBuffer,
        uint defaultTimeout, SecurityAttributes* attributes);

    [LibraryImport(Kernel32, EntryPoint = "CreateFileW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    private static partial nint CreateFile(string name, uint access, uint share, SecurityAttributes* attributes, uint disposition, uint flags, nint template);

    [LibraryImport(Kernel32, SetLastError = true)]
    private static partial int InitializeProcThreadAttributeList(void* list, uint count, uint flags, nuint* size);

    [LibraryImport(Kernel32, SetLastError = true)]
    private static partial int UpdateProcThreadAttribute(void* list, uint flags, nint attribute, void* value, nuint size, void* previous, nuint* returnSize);

    [LibraryImport(Kernel32)]
    private static partial void DeleteProcThreadAttributeList(void* list);

    [LibraryImport(Kernel32, SetLastError = true)]
    private static partial int CreateProcessW(char* application, char* commandLine, SecurityAttributes* processAttributes, SecurityAttributes* threadAttributes,
        int inheritHandles, uint flags, char* environment, char* directory, StartupInfoEx* startupInfo, ProcessInformation* information);

    [LibraryImport("advapi32.dll", SetLastError = true)]
    private static partial int CreateProcessAsUserW(nint token, char* application, char* commandLine, SecurityAttributes* processAttributes,
        SecurityAttributes* threadAttributes, int inheritHandles, uint flags, char* environment, char* directory, StartupInfoEx* startupInfo,
        ProcessInformation* information);

    [LibraryImport(Kernel32, EntryPoint = "ResumeThread", SetLastError = true)]
    private static partial uint ResumeThreadNative(nint thread);

    [LibraryImport(Kernel32, EntryPoint = "TerminateProcess", SetLastError = true)]
    private static partial int TerminateProcessNative(nint process, uint exitCode);

    [LibraryImport(Kernel32, EntryPoint = "OpenProcess", SetLastError = true)]
    private static partial nint OpenProcessNative(uint access, int inherit, uint pid);

    [LibraryImport(Kernel32, SetLastError = true)]
    private static partial uint GetProcessId(nint process);

    [LibraryImport(Kernel32, SetLastError = true)]
    private static partial int GetExitCodeProcess(nint process, uint* code);

    [LibraryImport(Kernel32, SetLastError = true)]
    private static partial int GetProcessTimes(nint process, long* creation, long* exit, long* kernel, long* user);

    [LibraryImport(Kernel32, EntryPoint = "DuplicateHandle", SetLastError = true)]
    private static partial int DuplicateHandleNative(nint sourceProcess, nint source, nint targetProcess, nint* target, uint access, int inherit, uint options);

    [LibraryImport(Kernel32, EntryPoint = "CloseHandle", SetLastError = true)]
    private static partial int CloseHandleNative(nint handle);

    [LibraryImport("advapi32.dll", EntryPoint = "LogonUserW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    private static partial int LogonUserNative(string user, string? domain, string? password, uint logonType, uint provider, nint* token);

    [LibraryImport("advapi32.dll", EntryPoint = "LookupAccountNameW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    private static partial int LookupAccountName(string? system, string name, byte* sid, uint* sidSize, char* domain, uint* domainSize, int* use);
}
