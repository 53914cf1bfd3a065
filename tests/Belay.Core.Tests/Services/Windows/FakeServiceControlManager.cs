using System.Globalization;
using Belay.Core.Services.Windows;

namespace Belay.Core.Tests.Services.Windows;

/// <summary>
/// An SCM in memory: one service table, handles numbered from 1, and every call recorded in
/// order as one line (the Win32 function and its arguments, names for the flags), so a test
/// compares the exact sequence a real SCM would see. It answers as the SCM does: 1073 when
/// creating a service that exists, 1060 when opening one that does not, 1062 when stopping a
/// stopped one, 1056 when starting a running one, 5 when the caller is not an administrator.
/// </summary>
internal sealed class FakeServiceControlManager : IServiceControlManager
{
    private readonly Dictionary<nint, string?> _handles = [];
    private nint _next = 1;

    public sealed class Service
    {
        public string DisplayName { get; set; } = "";
        public string ImagePath { get; set; } = "";
        public uint StartType { get; set; }
        public string? Account { get; set; }
        public string? Description { get; set; }
        public bool DelayedAutoStart { get; set; }
        public FailureActions? FailureActions { get; set; }
        public bool FailureActionsOnNonCrash { get; set; }
        public uint State { get; set; } = Scm.Stopped;
        public bool Deleted { get; set; }

        /// <summary>The states QueryServiceStatusEx reports after a stop control, one per call; the last one stays.</summary>
        public Queue<uint> StopStates { get; } = new();
    }

    public Dictionary<string, Service> Services { get; } = new(StringComparer.OrdinalIgnoreCase);

    public List<string> Calls { get; } = [];

    /// <summary>OpenSCManager fails with ERROR_ACCESS_DENIED when asked for more than SC_MANAGER_CONNECT.</summary>
    public bool Elevated { get; set; } = true;

    /// <summary>Handles still open (every path must close what it opened).</summary>
    public int OpenHandles => _handles.Count;

    public Service Add(string name, uint state = Scm.Stopped)
    {
        var service = new Service { DisplayName = name, ImagePath = @"""C:\old\belay.exe"" run", StartType = Scm.DemandStart, State = state };
        Services[name] = service;
        return service;
    }

    public nint OpenManager(uint access)
    {
        Calls.Add($"OpenSCManager({Access(access, manager: true)})");
        if (!Elevated && (access & ~Scm.ManagerConnect) != 0)
        {
            throw ServiceControlException.For(Scm.ErrorAccessDenied, "OpenSCManager", null);
        }
        return NewHandle(null);
    }

    public nint CreateService(nint manager, string name, string displayName, uint access, uint serviceType, uint startType,
        uint errorControl, string imagePath, string? account)
    {
        Calls.Add($"CreateService({name}, \"{displayName}\", {Access(access)}, {Type(serviceType)}, {Start(startType)}, {Error(errorControl)}, {imagePath}, {account ?? "LocalSystem"})");
        CheckHandle(manager);
        if (Services.ContainsKey(name))
        {
            throw ServiceControlException.For(Scm.ErrorServiceExists, "CreateService", name);
        }
        Services[name] = new Service { DisplayName = displayName, ImagePath = imagePath, StartType = startType, Account = account };
        return NewHandle(name);
    }

    public nint OpenService(nint manager, string name, uint access)
    {
        Calls.Add($"OpenService({name}, {Access(access)})");
        CheckHandle(manager);
        if (!Services.ContainsKey(name))
        {
            throw ServiceControlException.For(Scm.ErrorServiceDoesNotExist, "OpenService", name);
        }
        return NewHandle(name);
    }

    public void ChangeConfig(nint service, uint serviceType, uint startType, uint errorControl, string imagePath, string? account, string displayName)
    {
        Calls.Add($"ChangeServiceConfig({Type(serviceType)}, {Start(startType)}, {Error(errorControl)}, {imagePath}, {account ?? "unchanged"}, \"{displayName}\")");
        var s = Get(service);
        (s.StartType, s.ImagePath, s.DisplayName) = (startType, imagePath, displayName);
        s.Account = account ?? s.Account;
    }

    public void ChangeDescription(nint service, string description)
    {
        Calls.Add($"ChangeServiceConfig2(DESCRIPTION, \"{description}\")");
        Get(service).Description = description;
    }

    public void ChangeDelayedAutoStart(nint service, bool delayed)
    {
        Calls.Add($"ChangeServiceConfig2(DELAYED_AUTO_START_INFO, {delayed})");
        Get(service).DelayedAutoStart = delayed;
    }

    public void ChangeFailureActions(nint service, FailureActions actions)
    {
        Calls.Add($"ChangeServiceConfig2(FAILURE_ACTIONS, {actions})");
        Get(service).FailureActions = actions;
    }

    public void ChangeFailureActionsFlag(nint service, bool onNonCrashFailures)
    {
        Calls.Add($"ChangeServiceConfig2(FAILURE_ACTIONS_FLAG, {onNonCrashFailures})");
        Get(service).FailureActionsOnNonCrash = onNonCrashFailures;
    }

    public void StartService(nint service)
    {
        Calls.Add("StartService");
        var s = Get(service);
        if (s.State != Scm.Stopped)
        {
            throw ServiceControlException.For(Scm.ErrorServiceAlreadyRunning, "StartService", _handles[service]);
        }
        if (s.Deleted)
        {
            throw ServiceControlException.For(Scm.ErrorServiceMarkedForDelete, "StartService", _handles[service]);
        }
        s.State = Scm.StartPending;
    }

    public ServiceStatusProcess ControlService(nint service, uint control)
    {
        Calls.Add($"ControlService({(control == Scm.ControlStop ? "STOP" : control.ToString(CultureInfo.InvariantCulture))})");
        var s = Get(service);
        if (s.State == Scm.Stopped)
        {
            throw ServiceControlException.For(Scm.ErrorServiceNotActive, "ControlService", _handles[service]);
        }
        s.State = s.StopStates.Count > 0 ? s.StopStates.Dequeue() : Scm.Stopped;
        return ServiceStatusProcess.Of(s.State, 4242);
    }

    public ServiceStatusProcess QueryStatus(nint service)
    {
        var s = Get(service);
        if (s.State == Scm.StopPending && s.StopStates.Count > 0)
        {
            s.State = s.StopStates.Dequeue();
        }
        Calls.Add($"QueryServiceStatusEx -> {Scm.StateName(s.State)}");
        return ServiceStatusProcess.Of(s.State, s.State == Scm.Stopped ? 0 : 4242);
    }

    public void DeleteService(nint service)
    {
        Calls.Add("DeleteService");
        var s = Get(service);
        if (s.Deleted)
        {
            throw ServiceControlException.For(Scm.ErrorServiceMarkedForDelete, "DeleteService", _handles[service]);
        }
        s.Deleted = true;
        Services.Remove(_handles[service]!);
    }

    public void CloseHandle(nint handle)
    {
        Calls.Add($"CloseServiceHandle({(_handles.TryGetValue(handle, out var name) ? name ?? "manager" : "?")})");
        if (!_handles.Remove(handle))
        {
            throw new InvalidOperationException($"handle {handle} closed twice or never opened");
        }
    }

    private nint NewHandle(string? name)
    {
        var h = _next++;
        _handles[h] = name;
        return h;
    }

    private void CheckHandle(nint handle)
    {
        if (!_handles.ContainsKey(handle))
        {
            throw new InvalidOperationException($"handle {handle} is not open");
        }
    }

    private Service Get(nint handle)
    {
        CheckHandle(handle);
        var name = _handles[handle] ?? throw new InvalidOperationException("a manager handle used as a service handle");
        // A deleted service stays reachable through the handles opened before the delete.
        return Services.TryGetValue(name, out var s) ? s : new Service { Deleted = true };
    }

    private static string Access(uint access, bool manager = false)
    {
        var names = manager
            ? new (uint, string)[] { (Scm.ManagerConnect, "CONNECT"), (Scm.ManagerCreateService, "CREATE_SERVICE") }
            : [(Scm.QueryConfig, "QUERY_CONFIG"), (Scm.ChangeConfigAccess, "CHANGE_CONFIG"), (Scm.QueryStatusAccess, "QUERY_STATUS"),
                (Scm.StartAccess, "START"), (Scm.StopAccess, "STOP"), (Scm.Delete, "DELETE")];
        return string.Join('|', names.Where(n => (access & n.Item1) != 0).Select(n => n.Item2));
    }

    private static string Type(uint type) => type == Scm.Win32OwnProcess ? "WIN32_OWN_PROCESS" : type.ToString(CultureInfo.InvariantCulture);

    private static string Start(uint start) => start switch
    {
        Scm.AutoStart => "AUTO_START",
        Scm.DemandStart => "DEMAND_START",
        _ => start.ToString(CultureInfo.InvariantCulture),
    };

    private static string Error(uint error) => error == Scm.ErrorNormal ? "ERROR_NORMAL" : error.ToString(CultureInfo.InvariantCulture);
}
