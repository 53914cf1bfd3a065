namespace Belay.Core.Services.Windows;

/// <summary>
/// The settings the Windows backend makes with ChangeServiceConfig2 (description, delayed
/// automatic start, recovery actions, failure-actions flag), for a service handle the backend
/// opened, or (<see cref="Apply"/>) for a service someone else registered: the MSI's
/// ServiceInstall creates the keeper's service, and wixl has no ServiceConfig element, so its
/// custom action (<c>belay msi configure</c>) calls this.
/// </summary>
public static class WindowsServiceSettings
{
    /// <summary>
    /// Sets the four settings on <paramref name="service"/> (opened with SERVICE_CHANGE_CONFIG and
    /// SERVICE_START: a restart failure action needs the latter). Returns the settings this SCM does
    /// not know (ERROR_INVALID_LEVEL): Windows knows all four since Vista; Wine 8 rejects delayed
    /// auto-start and the failure-actions flag, and the service keeps the others.
    /// </summary>
    public static IReadOnlyList<string> Change(IServiceControlManager scm, nint service, ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(scm);
        ArgumentNullException.ThrowIfNull(definition);
        var unknown = new List<string>();
        void Try(string what, Action change)
        {
            try
            {
                change();
            }
            catch (ServiceControlException e) when (e.Error == Scm.ErrorInvalidLevel)
            {
                unknown.Add(what);
            }
        }
        scm.ChangeDescription(service, definition.Description);
        Try("delayed automatic start", () => scm.ChangeDelayedAutoStart(service, true));
        var (actions, onNonCrash) = WindowsServiceBackend.Recovery(definition);
        scm.ChangeFailureActions(service, actions);
        Try("failure actions on non-crash failures", () => scm.ChangeFailureActionsFlag(service, onNonCrash));
        return unknown;
    }

    /// <summary>
    /// Opens the existing service, sets its configuration as the backend registers it (ChangeServiceConfig:
    /// own process, automatic start, normal error control, <see cref="WindowsServiceBackend.ImagePath"/>,
    /// display name), then <see cref="Change"/>s the rest. The image path is set again because Windows
    /// Installer implementations differ in quoting the executable of a ServiceInstall row (Wine 8's msi
    /// writes it unquoted: C:\Program.exe would be tried first).
    /// </summary>
    /// <exception cref="ServiceControlException">The service does not exist (1060), or access is denied (5).</exception>
    public static IReadOnlyList<string> Apply(IServiceControlManager scm, ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(scm);
        ArgumentNullException.ThrowIfNull(definition);
        var name = WindowsServiceBackend.ServiceName(definition);
        var manager = scm.OpenManager(Scm.ManagerConnect);
        try
        {
            var service = scm.OpenService(manager, name, Scm.QueryConfig | Scm.ChangeConfigAccess | Scm.StartAccess);
            try
            {
                scm.ChangeConfig(service, Scm.Win32OwnProcess, Scm.AutoStart, Scm.ErrorNormal, WindowsServiceBackend.ImagePath(definition),
                    definition.User, WindowsServiceBackend.DisplayName);
                return Change(scm, service, definition);
            }
            finally
            {
                scm.CloseHandle(service);
            }
        }
        finally
        {
            scm.CloseHandle(manager);
        }
    }
}
