using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Belay.Core.Services.Windows;

/// <summary>
/// The advapi32 service functions, source-generated (LibraryImport, no runtime marshalling at
/// run time: every parameter is blittable or a UTF-16 string), so NativeAOT and trimming see
/// all of it. BOOL results are <c>int</c> (non-zero is success).
/// </summary>
[SupportedOSPlatform("windows")]
internal static unsafe partial class Advapi32
{
    private const string Lib = "advapi32.dll";

    [StructLayout(LayoutKind.Sequential)]
    internal struct ServiceStatus
    {
        public uint ServiceType;
        public uint CurrentState;
        public uint ControlsAccepted;
        public uint Win32ExitCode;
        public uint ServiceSpecificExitCode;
        public uint CheckPoint;
        public uint WaitHint;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ServiceStatusProcess
    {
        public uint ServiceType;
        public uint CurrentState;
        public uint ControlsAccepted;
        public uint Win32ExitCode;
        public uint ServiceSpecificExitCode;
        public uint CheckPoint;
        public uint WaitHint;
        public uint ProcessId;
        public uint ServiceFlags;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ServiceDescription
    {
        public char* Description;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ServiceDelayedAutoStartInfo
    {
        public int DelayedAutostart;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ScAction
    {
        public int Type;
        public uint Delay;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ServiceFailureActions
    {
        public uint ResetPeriod;
        public char* RebootMsg;
        public char* Command;
        public uint ActionCount;
        public ScAction* Actions;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ServiceFailureActionsFlag
    {
        public int FailureActionsOnNonCrashFailures;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ServiceTableEntry
    {
        public char* ServiceName;
        public delegate* unmanaged[Stdcall]<uint, char**, void> ServiceProc;
    }

    [LibraryImport(Lib, EntryPoint = "OpenSCManagerW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    internal static partial nint OpenSCManager(string? machineName, string? databaseName, uint desiredAccess);

    [LibraryImport(Lib, EntryPoint = "CreateServiceW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    internal static partial nint CreateService(nint manager, string serviceName, string displayName, uint desiredAccess, uint serviceType,
        uint startType, uint errorControl, string binaryPathName, string? loadOrderGroup, uint* tagId, string? dependencies,
        string? serviceStartName, string? password);

    [LibraryImport(Lib, EntryPoint = "OpenServiceW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    internal static partial nint OpenService(nint manager, string serviceName, uint desiredAccess);

    [LibraryImport(Lib, EntryPoint = "ChangeServiceConfigW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    internal static partial int ChangeServiceConfig(nint service, uint serviceType, uint startType, uint errorControl, string? binaryPathName,
        string? loadOrderGroup, uint* tagId, string? dependencies, string? serviceStartName, string? password, string? displayName);

    [LibraryImport(Lib, EntryPoint = "ChangeServiceConfig2W", SetLastError = true)]
    internal static partial int ChangeServiceConfig2(nint service, uint infoLevel, void* info);

    [LibraryImport(Lib, EntryPoint = "StartServiceW", SetLastError = true)]
    internal static partial int StartService(nint service, uint argCount, char** args);

    [LibraryImport(Lib, EntryPoint = "ControlService", SetLastError = true)]
    internal static partial int ControlService(nint service, uint control, ServiceStatus* status);

    [LibraryImport(Lib, EntryPoint = "QueryServiceStatusEx", SetLastError = true)]
    internal static partial int QueryServiceStatusEx(nint service, int infoLevel, ServiceStatusProcess* buffer, uint bufferSize, uint* bytesNeeded);

    [LibraryImport(Lib, EntryPoint = "DeleteService", SetLastError = true)]
    internal static partial int DeleteService(nint service);

    [LibraryImport(Lib, EntryPoint = "CloseServiceHandle", SetLastError = true)]
    internal static partial int CloseServiceHandle(nint handle);

    [LibraryImport(Lib, EntryPoint = "StartServiceCtrlDispatcherW", SetLastError = true)]
    internal static partial int StartServiceCtrlDispatcher(ServiceTableEntry* table);

    [LibraryImport(Lib, EntryPoint = "RegisterServiceCtrlHandlerExW", SetLastError = true)]
    internal static partial nint RegisterServiceCtrlHandlerEx(char* serviceName, delegate* unmanaged[Stdcall]<uint, uint, void*, void*, uint> handler, void* context);

    [LibraryImport(Lib, EntryPoint = "SetServiceStatus", SetLastError = true)]
    internal static partial int SetServiceStatus(nint statusHandle, ServiceStatus* status);
}
