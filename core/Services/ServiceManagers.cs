using Belay.Core.Install;

namespace Belay.Core.Services;

/// <summary>
/// The service managers Belay knows, detection in order (the first that is running here
/// wins, ending in none, which always applies), and the definition each would install.
/// </summary>
public static class ServiceManagers
{
    public static readonly IReadOnlyList<string> Names = ["systemd", "launchd", "smf", "windows", "none"];

    /// <summary>The manager running this host, with the reason; none when there is no init system to register with (containers).</summary>
    public static (string Name, string Why) Detect(Func<string, bool>? exists = null)
    {
        var has = exists ?? (p => Directory.Exists(p) || File.Exists(p));
        if (OperatingSystem.IsWindows())
        {
            return ("windows", "this is Windows");
        }
        if (OperatingSystem.IsMacOS())
        {
            return ("launchd", "this is macOS");
        }
        if (has("/run/systemd/system"))
        {
            return ("systemd", "/run/systemd/system exists (systemd is PID 1)");
        }
        if (has("/etc/svc/volatile") && has("/usr/sbin/svcadm"))
        {
            return ("smf", "/etc/svc/volatile and svcadm exist (illumos/Solaris SMF)");
        }
        return ("none", "no running service manager found (a container, or no init system): the keeper runs detached");
    }

    /// <summary>Why <paramref name="name"/> cannot be used on this host for <paramref name="scope"/>, or null when it can.</summary>
    public static string? WhyNotUsable(string name, InstallScope scope, Func<string, bool>? exists = null, Func<string, string?>? environment = null)
    {
        var has = exists ?? (p => Directory.Exists(p) || File.Exists(p));
        var env = environment ?? Environment.GetEnvironmentVariable;
        return name switch
        {
            "systemd" when OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() => "systemd runs on Linux only",
            "systemd" when !has("/run/systemd/system") => "systemd is not running on this host (no /run/systemd/system: a container, or another init)",
            "systemd" when scope == InstallScope.User && env("XDG_RUNTIME_DIR") is not { Length: > 0 } =>
                "a user install talks to the user's systemd instance, and XDG_RUNTIME_DIR is not set (log in as that user, e.g. machinectl shell USER@, rather than su)",
            "launchd" when !OperatingSystem.IsMacOS() => "launchd runs on macOS only",
            "smf" when !has("/usr/sbin/svcadm") => "SMF runs on illumos and Solaris only (no /usr/sbin/svcadm)",
            "windows" when !OperatingSystem.IsWindows() => "the Windows service manager runs on Windows only",
            "windows" when scope == InstallScope.User =>
                "the Windows service control manager has no per-user services; install for the machine (--scope system) from an elevated prompt",
            "none" when OperatingSystem.IsWindows() => "the detached keeper is not supported on Windows",
            _ => null,
        };
    }

    /// <summary>The file a manager would install for this definition and its content; null for managers without a file.</summary>
    public static (string Path, string Content)? Render(string manager, ServiceDefinition definition) => manager switch
    {
        "systemd" => (SystemdUnit.Path(definition.Scope), SystemdUnit.Render(definition)),
        "launchd" => (LaunchdPlist.Path(definition.Scope), LaunchdPlist.Render(definition)),
        "smf" => (SmfManifest.Path, SmfManifest.Render(definition)),
        "windows" or "none" => null,
        _ => throw new BelayException(ExitCodes.Usage, $"unknown service manager '{manager}': use one of {string.Join(", ", Names)}"),
    };
}
