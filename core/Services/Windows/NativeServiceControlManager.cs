using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Belay.Core.Services.Windows;

/// <summary>The real SCM: advapi32 through <see cref="Advapi32"/>; every failure becomes a <see cref="ServiceControlException"/>.</summary>
[SupportedOSPlatform("windows")]
public sealed unsafe class NativeServiceControlManager : IServiceControlManager
{
    public static NativeServiceControlManager Instance { get; } = new();

    // Which service a handle belongs to, for messages (handles are few and short-lived).
    private readonly Dictionary<nint, string> _names = [];

    public nint OpenManager(uint access)
    {
        var handle = Advapi32.OpenSCManager(null, null, access);
        return handle != 0 ? handle : throw Fail("OpenSCManager", null);
    }

    public nint CreateService(nint manager, string name, string displayName, uint access, uint serviceType, uint startType,
        uint errorControl, string imagePath, string? account)
    {
        var handle = Advapi32.CreateService(manager, name, displayName, access, serviceType, startType, errorControl, imagePath,
            null, null, null, account, null);
        return Remember(handle != 0 ? handle : throw Fail("CreateService", name), name);
    }

    public nint OpenService(nint manager, string name, uint access)
    {
        var handle = Advapi32.OpenService(manager, name, access);
        return Remember(handle != 0 ? handle : throw Fail("OpenService", name), name);
    }

    public void ChangeConfig(nint service, uint serviceType, uint startType, uint errorControl, string imagePath, string? account, string displayName) =>
        Check(Advapi32.ChangeServiceConfig(service, serviceType, startType, errorControl, imagePath, null, null, null, account, null, displayName),
            "ChangeServiceConfig", service);

    public void ChangeDescription(nint service, string description)
    {
        fixed (char* text = description)
        {
            var info = new Advapi32.ServiceDescription { Description = text };
            Check(Advapi32.ChangeServiceConfig2(service, Scm.ConfigDescription, &info), "ChangeServiceConfig2(SERVICE_CONFIG_DESCRIPTION)", service);
        }
    }

    public void ChangeDelayedAutoStart(nint service, bool delayed)
    {
        var info = new Advapi32.ServiceDelayedAutoStartInfo { DelayedAutostart = delayed ? 1 : 0 };
        Check(Advapi32.ChangeServiceConfig2(service, Scm.ConfigDelayedAutoStartInfo, &info), "ChangeServiceConfig2(SERVICE_CONFIG_DELAYED_AUTO_START_INFO)", service);
    }

    public void ChangeFailureActions(nint service, FailureActions actions)
    {
        ArgumentNullException.ThrowIfNull(actions);
        // lpsaActions must not be NULL even with no actions: NULL means "leave them as they are",
        // a non-NULL array with cActions = 0 removes them.
        var array = stackalloc Advapi32.ScAction[Math.Max(1, actions.Actions.Count)];
        for (var i = 0; i < actions.Actions.Count; i++)
        {
            array[i] = new Advapi32.ScAction { Type = actions.Actions[i].Type, Delay = actions.Actions[i].DelayMilliseconds };
        }
        var info = new Advapi32.ServiceFailureActions
        {
            ResetPeriod = actions.ResetPeriodSeconds,
            ActionCount = (uint)actions.Actions.Count,
            Actions = array,
        };
        Check(Advapi32.ChangeServiceConfig2(service, Scm.ConfigFailureActions, &info), "ChangeServiceConfig2(SERVICE_CONFIG_FAILURE_ACTIONS)", service);
    }

    public void ChangeFailureActionsFlag(nint service, bool onNonCrashFailures)
    {
        var info = new Advapi32.ServiceFailureActionsFlag { FailureActionsOnNonCrashFailures = onNonCrashFailures ? 1 : 0 };
        Check(Advapi32.ChangeServiceConfig2(service, Scm.ConfigFailureActionsFlag, &info), "ChangeServiceConfig2(SERVICE_CONFIG_FAILURE_ACTIONS_FLAG)", service);
    }

    public void StartService(nint service) => Check(Advapi32.StartService(service, 0, null), "StartService", service);

    public ServiceStatusProcess ControlService(nint service, uint control)
    {
        Advapi32.ServiceStatus status;
        Check(Advapi32.ControlService(service, control, &status), "ControlService", service);
        return new ServiceStatusProcess(status.CurrentState, status.Win32ExitCode, status.ServiceSpecificExitCode, status.CheckPoint, status.WaitHint, 0);
    }

    public ServiceStatusProcess QueryStatus(nint service)
    {
        Advapi32.ServiceStatusProcess status;
        uint needed;
        Check(Advapi32.QueryServiceStatusEx(service, 0 /* SC_STATUS_PROCESS_INFO */, &status, (uint)sizeof(Advapi32.ServiceStatusProcess), &needed),
            "QueryServiceStatusEx", service);
        return new ServiceStatusProcess(status.CurrentState, status.Win32ExitCode, status.ServiceSpecificExitCode, status.CheckPoint, status.WaitHint, (int)status.ProcessId);
    }

    public void DeleteService(nint service) => Check(Advapi32.DeleteService(service), "DeleteService", service);

    public void CloseHandle(nint handle)
    {
        if (handle != 0)
        {
            _ = Advapi32.CloseServiceHandle(handle);
            lock (_names)
            {
                _names.Remove(handle);
            }
        }
    }

    private nint Remember(nint handle, string name)
    {
        lock (_names)
        {
            _names[handle] = name;
        }
        return handle;
    }

    private void Check(int ok, string call, nint service)
    {
        if (ok == 0)
        {
            string? name;
            lock (_names)
            {
                name = _names.GetValueOrDefault(service);
            }
            throw Fail(call, name ?? "Belay");
        }
    }

    private static ServiceControlException Fail(string call, string? service) =>
        ServiceControlException.For(Marshal.GetLastPInvokeError(), call, service);
}
