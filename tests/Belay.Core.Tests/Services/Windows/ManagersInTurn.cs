using Belay.Core.Services.Windows;

namespace Belay.Core.Tests.Services.Windows;

/// <summary>
/// Several service control managers answering one machine, each connection (OpenSCManager) reaching
/// the next in turn, each with its own list of services: what a Wine prefix has when two services.exe
/// run in one wineserver (msiexec right after wineboot -i). Handles are this double's own, mapped to
/// the manager that made them.
/// </summary>
internal sealed class ManagersInTurn(params FakeServiceControlManager[] managers) : IServiceControlManager
{
    private readonly Dictionary<nint, (FakeServiceControlManager Scm, nint Handle)> _handles = [];
    private nint _next = 1;
    private int _turn;

    private nint Map(FakeServiceControlManager scm, nint handle)
    {
        _handles[_next] = (scm, handle);
        return _next++;
    }

    private (FakeServiceControlManager Scm, nint Handle) Of(nint handle) => _handles[handle];

    public nint OpenManager(uint access)
    {
        var scm = managers[_turn++ % managers.Length];
        return Map(scm, scm.OpenManager(access));
    }

    public nint CreateService(nint manager, string name, string displayName, uint access, uint serviceType, uint startType,
        uint errorControl, string imagePath, string? account)
    {
        var (scm, h) = Of(manager);
        return Map(scm, scm.CreateService(h, name, displayName, access, serviceType, startType, errorControl, imagePath, account));
    }

    public nint OpenService(nint manager, string name, uint access)
    {
        var (scm, h) = Of(manager);
        return Map(scm, scm.OpenService(h, name, access));
    }

    public void ChangeConfig(nint service, uint serviceType, uint startType, uint errorControl, string imagePath, string? account, string displayName) =>
        Of(service).Scm.ChangeConfig(Of(service).Handle, serviceType, startType, errorControl, imagePath, account, displayName);

    public void ChangeDescription(nint service, string description) => Of(service).Scm.ChangeDescription(Of(service).Handle, description);

    public void ChangeDelayedAutoStart(nint service, bool delayed) => Of(service).Scm.ChangeDelayedAutoStart(Of(service).Handle, delayed);

    public void ChangeFailureActions(nint service, FailureActions actions) => Of(service).Scm.ChangeFailureActions(Of(service).Handle, actions);

    public void ChangeFailureActionsFlag(nint service, bool onNonCrashFailures) => Of(service).Scm.ChangeFailureActionsFlag(Of(service).Handle, onNonCrashFailures);

    public void StartService(nint service) => Of(service).Scm.StartService(Of(service).Handle);

    public ServiceStatusProcess ControlService(nint service, uint control) => Of(service).Scm.ControlService(Of(service).Handle, control);

    public ServiceStatusProcess QueryStatus(nint service) => Of(service).Scm.QueryStatus(Of(service).Handle);

    public void DeleteService(nint service) => Of(service).Scm.DeleteService(Of(service).Handle);

    public void CloseHandle(nint handle)
    {
        var (scm, h) = Of(handle);
        scm.CloseHandle(h);
        _handles.Remove(handle);
    }
}
