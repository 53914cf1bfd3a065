using Belay.Core;
using Belay.Core.Install;
using Belay.Core.Services;
using Belay.Core.Services.Windows;

namespace Belay.Bootstrapper.Install;

/// <summary>The backend for a service manager's name, wired to the real tools of this host.</summary>
internal static class ServiceBackends
{
    public static IServiceBackend Create(string name, InstallLayout layout, Action<string> say) => name switch
    {
        "systemd" => new SystemdBackend(SystemProcessRunner.Instance),
        "launchd" => new LaunchdBackend(SystemProcessRunner.Instance),
        "smf" => new SmfBackend(SystemProcessRunner.Instance),
        "windows" => OperatingSystem.IsWindows()
            ? new WindowsServiceBackend(NativeServiceControlManager.Instance)
            : throw new BelayException(ExitCodes.Usage, "the Windows service manager runs on Windows only"),
        "none" => new DetachedKeeper(layout, say),
        _ => throw new BelayException(ExitCodes.Usage, $"unknown service manager '{name}': use one of {string.Join(", ", ServiceManagers.Names)}"),
    };

    /// <summary>
    /// "auto" resolved by detection (and said), or the name given, checked against what this
    /// host runs, so that an install for a manager that is not there stops before anything is written.
    /// </summary>
    /// <remarks><paramref name="detected"/> is why auto chose what it chose (null when a manager was named): the
    /// install says it once it registers the keeper, not before an error that has nothing to do with it.</remarks>
    public static string Resolve(string requested, InstallScope scope, out string? detected)
    {
        detected = null;
        if (requested == "auto")
        {
            var (name, why) = ServiceManagers.Detect();
            detected = why;
            return name;
        }
        if (!ServiceManagers.Names.Contains(requested))
        {
            throw new BelayException(ExitCodes.Usage, $"unknown service manager '{requested}': use auto or one of {string.Join(", ", ServiceManagers.Names)}");
        }
        if (ServiceManagers.WhyNotUsable(requested, scope) is { } why2)
        {
            throw new BelayException(ExitCodes.Usage, $"--service-manager {requested} cannot be used here: {why2}; use --service-manager auto to detect, or none");
        }
        return requested;
    }
}
