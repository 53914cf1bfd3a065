namespace Belay.Core.Services.Windows;

/// <summary>
/// The Windows Service Control Manager calls the Windows backend needs, one method per Win32
/// call and with its parameters (advapi32: OpenSCManagerW, CreateServiceW, OpenServiceW,
/// ChangeServiceConfigW, ChangeServiceConfig2W, StartServiceW, ControlService,
/// QueryServiceStatusEx, DeleteService, CloseServiceHandle), so that a fake records the
/// sequence a real SCM would see. Handles are opaque (<see cref="nint"/>, never zero).
/// A call that fails throws a <see cref="ServiceControlException"/> carrying the Win32 error
/// (GetLastError) and a message for the user (<see cref="ServiceControlException.For"/>).
/// </summary>
public interface IServiceControlManager
{
    /// <summary>OpenSCManagerW(NULL, SERVICES_ACTIVE_DATABASE, <paramref name="access"/>).</summary>
    nint OpenManager(uint access);

    /// <summary>CreateServiceW with no load order group, no dependencies and no password.</summary>
    /// <param name="account">lpServiceStartName: null for LocalSystem.</param>
    nint CreateService(nint manager, string name, string displayName, uint access, uint serviceType, uint startType,
        uint errorControl, string imagePath, string? account);

    /// <summary>OpenServiceW.</summary>
    nint OpenService(nint manager, string name, uint access);

    /// <summary>ChangeServiceConfigW: sets each of these (the others are left as they are).</summary>
    void ChangeConfig(nint service, uint serviceType, uint startType, uint errorControl, string imagePath, string? account, string displayName);

    /// <summary>ChangeServiceConfig2W(SERVICE_CONFIG_DESCRIPTION).</summary>
    void ChangeDescription(nint service, string description);

    /// <summary>ChangeServiceConfig2W(SERVICE_CONFIG_DELAYED_AUTO_START_INFO).</summary>
    void ChangeDelayedAutoStart(nint service, bool delayed);

    /// <summary>ChangeServiceConfig2W(SERVICE_CONFIG_FAILURE_ACTIONS), no reboot message and no command.
    /// With a restart action the handle needs SERVICE_START access.</summary>
    void ChangeFailureActions(nint service, FailureActions actions);

    /// <summary>ChangeServiceConfig2W(SERVICE_CONFIG_FAILURE_ACTIONS_FLAG): whether a stop with a non-zero exit code also counts as a failure.</summary>
    void ChangeFailureActionsFlag(nint service, bool onNonCrashFailures);

    /// <summary>StartServiceW with no arguments.</summary>
    void StartService(nint service);

    /// <summary>ControlService; the status it returns.</summary>
    ServiceStatusProcess ControlService(nint service, uint control);

    /// <summary>QueryServiceStatusEx(SC_STATUS_PROCESS_INFO).</summary>
    ServiceStatusProcess QueryStatus(nint service);

    /// <summary>DeleteService: marks the service for deletion (it goes once it has stopped and every handle is closed).</summary>
    void DeleteService(nint service);

    /// <summary>CloseServiceHandle.</summary>
    void CloseHandle(nint handle);
}

/// <summary>SC_ACTION: what the SCM does after a failure, and after how long.</summary>
public readonly record struct FailureAction(int Type, uint DelayMilliseconds);

/// <summary>SERVICE_FAILURE_ACTIONSW without the reboot message and command.</summary>
/// <param name="ResetPeriodSeconds">After this long without a failure the failure count goes back to zero.</param>
/// <param name="Actions">Action N is taken on failure N; the last one repeats for every later failure.</param>
public sealed record FailureActions(uint ResetPeriodSeconds, IReadOnlyList<FailureAction> Actions)
{
    public override string ToString() =>
        $"reset={ResetPeriodSeconds}s [{string.Join(", ", Actions.Select(a => $"{Scm.ActionName(a.Type)}/{a.DelayMilliseconds}ms"))}]";
}

/// <summary>SERVICE_STATUS_PROCESS, the fields the backend reads.</summary>
public readonly record struct ServiceStatusProcess(uint CurrentState, uint Win32ExitCode, uint ServiceSpecificExitCode, uint CheckPoint, uint WaitHint, int ProcessId)
{
    public static ServiceStatusProcess Of(uint state, int processId = 0) => new(state, 0, 0, 0, 0, processId);
}

/// <summary>The Win32 constants (winsvc.h, winerror.h) the backend, the native SCM and the service host use.</summary>
public static class Scm
{
    // Access rights.
    public const uint ManagerConnect = 0x0001;
    public const uint ManagerCreateService = 0x0002;
    public const uint QueryConfig = 0x0001;
    public const uint ChangeConfigAccess = 0x0002;
    public const uint QueryStatusAccess = 0x0004;
    public const uint StartAccess = 0x0010;
    public const uint StopAccess = 0x0020;
    public const uint Delete = 0x10000;

    // Service type, start type, error control.
    public const uint Win32OwnProcess = 0x10;
    public const uint AutoStart = 2;
    public const uint DemandStart = 3;
    public const uint ErrorNormal = 1;

    // Controls.
    public const uint ControlStop = 1;
    public const uint ControlInterrogate = 4;
    public const uint ControlShutdown = 5;

    // States.
    public const uint Stopped = 1;
    public const uint StartPending = 2;
    public const uint StopPending = 3;
    public const uint Running = 4;
    public const uint ContinuePending = 5;
    public const uint PausePending = 6;
    public const uint Paused = 7;

    // Controls accepted.
    public const uint AcceptStop = 0x1;
    public const uint AcceptShutdown = 0x4;

    // SC_ACTION types.
    public const int ActionNone = 0;
    public const int ActionRestart = 1;

    // ChangeServiceConfig2 levels.
    public const uint ConfigDescription = 1;
    public const uint ConfigFailureActions = 2;
    public const uint ConfigDelayedAutoStartInfo = 3;
    public const uint ConfigFailureActionsFlag = 4;

    // Win32 errors.
    public const int ErrorAccessDenied = 5;
    public const int ErrorInvalidParameter = 87;
    /// <summary>ERROR_INVALID_LEVEL: an SCM that does not know a ChangeServiceConfig2 setting (Wine 8: delayed auto-start, the failure-actions flag).</summary>
    public const int ErrorInvalidLevel = 124;
    public const int ErrorServiceRequestTimeout = 1053;
    public const int ErrorServiceAlreadyRunning = 1056;
    public const int ErrorServiceDisabled = 1058;
    public const int ErrorServiceDoesNotExist = 1060;
    public const int ErrorServiceCannotAcceptControl = 1061;
    public const int ErrorServiceNotActive = 1062;
    public const int ErrorFailedServiceControllerConnect = 1063;
    public const int ErrorServiceMarkedForDelete = 1072;
    public const int ErrorServiceExists = 1073;
    public const int ErrorDuplicateServiceName = 1078;

    /// <summary>The SCM's state as `sc query` words it, in lower case.</summary>
    public static string StateName(uint state) => state switch
    {
        Stopped => "stopped",
        StartPending => "start pending",
        StopPending => "stop pending",
        Running => "running",
        ContinuePending => "continue pending",
        PausePending => "pause pending",
        Paused => "paused",
        _ => $"state {state}",
    };

    public static string ActionName(int type) => type switch
    {
        ActionNone => "none",
        ActionRestart => "restart",
        2 => "reboot",
        3 => "run-command",
        _ => $"action {type}",
    };
}

/// <summary>A failed SCM call: the Win32 error and a message that says what to do.</summary>
public sealed class ServiceControlException : BelayException
{
    public ServiceControlException(int exitCode, int error, string message)
        : base(exitCode, message)
    {
        Error = error;
    }

    public ServiceControlException()
        : this(ExitCodes.Error, 0, "service control manager error")
    {
    }

    public ServiceControlException(string message)
        : this(ExitCodes.Error, 0, message)
    {
    }

    public ServiceControlException(string message, Exception inner)
        : base(ExitCodes.Error, message, inner)
    {
    }

    /// <summary>The Win32 error code (GetLastError).</summary>
    public int Error { get; }

    /// <summary>The exception for <paramref name="error"/> from <paramref name="call"/> on service <paramref name="service"/> (null for the manager itself).</summary>
    public static ServiceControlException For(int error, string call, string? service)
    {
        var what = service is null ? "the Windows service control manager" : $"Windows service {service}";
        return error switch
        {
            Scm.ErrorAccessDenied => new(ExitCodes.NeedsPrivileges, error,
                $"{call}: access denied to {what} (error 5): registering, starting or removing a service needs administrator rights; " +
                "run it from an elevated prompt (Run as administrator) or use --scope user"),
            Scm.ErrorServiceExists or Scm.ErrorDuplicateServiceName => new(ExitCodes.Error, error,
                $"{call}: {what} already exists (error {error})"),
            Scm.ErrorServiceDoesNotExist => new(ExitCodes.Error, error,
                $"{call}: {what} is not installed (error 1060); install it with belay install --service-manager windows"),
            Scm.ErrorServiceAlreadyRunning => new(ExitCodes.Error, error,
                $"{call}: {what} is already running (error 1056)"),
            Scm.ErrorServiceNotActive => new(ExitCodes.Error, error,
                $"{call}: {what} is not running (error 1062)"),
            Scm.ErrorServiceMarkedForDelete => new(ExitCodes.Error, error,
                $"{call}: {what} is marked for deletion (error 1072): it goes once it has stopped and every program holding it open " +
                "(services.msc, Event Viewer, a PowerShell Get-Service) is closed; close them, or restart Windows, then try again"),
            Scm.ErrorServiceCannotAcceptControl => new(ExitCodes.Error, error,
                $"{call}: {what} cannot accept this control now (error 1061): it is starting or stopping; try again in a moment"),
            Scm.ErrorServiceRequestTimeout => new(ExitCodes.Error, error,
                $"{call}: {what} did not answer the service control manager in time (error 1053); see the keeper log"),
            Scm.ErrorServiceDisabled => new(ExitCodes.Error, error,
                $"{call}: {what} is disabled (error 1058); enable it with sc config {service} start= delayed-auto"),
            _ => new(ExitCodes.Error, error, $"{call} failed for {what}: Win32 error {error}"),
        };
    }
}
