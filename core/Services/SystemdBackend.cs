using Belay.Core.Install;
using Belay.Core.IO;

namespace Belay.Core.Services;

/// <summary>
/// systemd: the unit in /etc/systemd/system (system scope, <c>systemctl</c>) or
/// ~/.config/systemd/user (user scope, <c>systemctl --user</c>).
/// <list type="bullet">
/// <item>install: write the unit (0644) if it changed, <c>daemon-reload</c>, then <c>enable --now</c>
///   (<c>enable</c> and <c>restart</c> when it was running under the old unit; only <c>enable</c> with
///   --no-start). The unit is Type=notify, so <c>enable --now</c> returns once the keeper reports
///   the agent ready, or fails with the reason.</item>
/// <item>uninstall: <c>disable --now</c>, remove the unit, <c>daemon-reload</c>, <c>reset-failed</c>.</item>
/// <item>status: <c>systemctl show -p LoadState,ActiveState,SubState,MainPID</c>.</item>
/// </list>
/// </summary>
public sealed class SystemdBackend : IServiceBackend
{
    private readonly IProcessRunner _runner;
    private readonly string? _unitPath;

    /// <param name="runner">Runs systemctl.</param>
    /// <param name="unitPath">Where the unit goes; null for the scope's standard place (<see cref="SystemdUnit.Path"/>).</param>
    public SystemdBackend(IProcessRunner runner, string? unitPath = null)
    {
        _runner = runner;
        _unitPath = unitPath;
    }

    public string Name => "systemd";

    private string UnitPath(ServiceDefinition d) => _unitPath ?? SystemdUnit.Path(d.Scope);

    public void Install(ServiceDefinition definition, bool start)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var path = UnitPath(definition);
        var content = SystemdUnit.Render(definition);
        var previous = File.Exists(path) ? File.ReadAllText(path) : null;
        var changed = previous != content;
        if (changed)
        {
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                AtomicFile.WriteAllText(path, content, SystemdUnit.FileMode);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new BelayException(ExitCodes.NeedsPrivileges, $"cannot write {path}: {SystemErrors.Describe(e)}; run it with sudo, or install for this user with --scope user", e);
            }
            Systemctl(definition, "daemon-reload");
        }
        if (!start)
        {
            Systemctl(definition, "enable", SystemdUnit.UnitName);
            return;
        }
        if (changed && previous is not null && IsActive(definition))
        {
            Systemctl(definition, "enable", SystemdUnit.UnitName);
            Systemctl(definition, "restart", SystemdUnit.UnitName);
        }
        else
        {
            Systemctl(definition, "enable", "--now", SystemdUnit.UnitName);
        }
    }

    public bool Uninstall(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var path = UnitPath(definition);
        if (!File.Exists(path))
        {
            return false;
        }
        Systemctl(definition, "disable", "--now", SystemdUnit.UnitName);
        try
        {
            File.Delete(path);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new BelayException(ExitCodes.NeedsPrivileges, $"cannot remove {path}: {SystemErrors.Describe(e)}; run it with sudo", e);
        }
        Systemctl(definition, "daemon-reload");
        // Forget a failed state so that nothing about the unit is left behind; no unit is not an error.
        _runner.Run(Command(definition, "reset-failed", SystemdUnit.UnitName));
        return true;
    }

    public void Start(ServiceDefinition definition) => Control(definition, "start");

    public void Stop(ServiceDefinition definition) => Control(definition, "stop");

    public void Restart(ServiceDefinition definition) => Control(definition, "restart");

    public ServiceStatus Status(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var result = _runner.Run(Command(definition, "show", "-p", "LoadState,ActiveState,SubState,MainPID", SystemdUnit.UnitName));
        var inspect = $"{Describe(definition)} status {SystemdUnit.UnitName}; journalctl{(definition.Scope == InstallScope.User ? " --user" : "")} -u {SystemdUnit.UnitName}";
        if (result.ExitCode != 0)
        {
            return new ServiceStatus(File.Exists(UnitPath(definition)), false, "unknown", $"systemctl show failed: {FirstLine(result.Output)}");
        }
        var props = result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        var load = props.GetValueOrDefault("LoadState", "");
        if (load is "not-found" or "")
        {
            return new ServiceStatus(false, false, "not installed", $"no {SystemdUnit.UnitName} (looked for {UnitPath(definition)})");
        }
        var active = props.GetValueOrDefault("ActiveState", "unknown");
        var sub = props.GetValueOrDefault("SubState", "");
        var pid = props.GetValueOrDefault("MainPID", "0");
        var state = sub.Length > 0 ? $"{active} ({sub})" : active;
        return new ServiceStatus(true, active == "active", state, (pid != "0" ? $"main pid {pid}; " : "") + inspect);
    }

    private void Control(ServiceDefinition definition, string verb)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (!File.Exists(UnitPath(definition)))
        {
            throw new BelayException($"{SystemdUnit.UnitName} is not installed ({UnitPath(definition)} does not exist); install it with belay install --service-manager systemd");
        }
        Systemctl(definition, verb, SystemdUnit.UnitName);
    }

    private bool IsActive(ServiceDefinition definition) =>
        _runner.Run(Command(definition, "is-active", "--quiet", SystemdUnit.UnitName)).ExitCode == 0;

    private void Systemctl(ServiceDefinition definition, params string[] args)
    {
        var command = Command(definition, args);
        var result = _runner.Run(command);
        if (result.ExitCode == 0)
        {
            return;
        }
        var output = result.Output;
        var described = SystemProcessRunner.Describe(command);
        if (output.Contains("Access denied", StringComparison.OrdinalIgnoreCase) ||
            output.Contains("Interactive authentication required", StringComparison.OrdinalIgnoreCase) ||
            output.Contains("Permission denied", StringComparison.OrdinalIgnoreCase))
        {
            throw new BelayException(ExitCodes.NeedsPrivileges, $"{described} was refused: {FirstLine(output)}; run it with sudo, or install for this user with --scope user");
        }
        if (output.Contains("Failed to connect to bus", StringComparison.OrdinalIgnoreCase))
        {
            throw new BelayException($"{described} could not reach systemd: {FirstLine(output)}" + (definition.Scope == InstallScope.User
                ? "; a user install needs the user's systemd instance (log in as that user so XDG_RUNTIME_DIR is set, or use --service-manager none)"
                : "; is systemd running here? use --service-manager none on a host without it"));
        }
        var journal = $"journalctl{(definition.Scope == InstallScope.User ? " --user" : "")} -u {SystemdUnit.UnitName} -n 50";
        throw new BelayException($"{described} failed (exit {result.ExitCode}): {output.Trim()}\nSee: {Describe(definition)} status {SystemdUnit.UnitName}; {journal}");
    }

    private static string Describe(ServiceDefinition definition) => definition.Scope == InstallScope.User ? "systemctl --user" : "systemctl";

    private static string[] Command(ServiceDefinition definition, params string[] args) =>
        definition.Scope == InstallScope.User ? ["systemctl", "--user", .. args] : ["systemctl", .. args];

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();
}
