namespace Belay.Core.Services;

/// <summary>What a service manager says about the keeper's service.</summary>
/// <param name="Installed">The manager knows the service (unit file, plist, SMF service, SCM entry).</param>
/// <param name="Running">The manager runs it now (active, running, online, SERVICE_RUNNING).</param>
/// <param name="State">The manager's own word for its state (active, online, maintenance, running, stopped, ...), or "not installed".</param>
/// <param name="Detail">Where an operator looks next (the command or file), one line.</param>
public sealed record ServiceStatus(bool Installed, bool Running, string State, string Detail);

/// <summary>
/// One service manager, carrying out what `belay install`, `belay uninstall` and
/// `belay status` ask of it with the platform's own tools or API (systemctl, launchctl,
/// svccfg/svcadm/svcs, the Windows SCM). Every backend renders from the same
/// <see cref="ServiceDefinition"/>.
/// <para>Contract, the same for each backend:</para>
/// <list type="bullet">
/// <item><see cref="Install"/> is idempotent: a service already installed gets the new definition
///   (and is restarted when <paramref name="start"/> says so); it registers the service to start
///   at boot either way.</item>
/// <item><see cref="Uninstall"/> stops, unregisters and removes what <see cref="Install"/> wrote;
///   a service that is not installed is not an error (it returns false).</item>
/// <item><see cref="Start"/>, <see cref="Stop"/> and <see cref="Restart"/> on a service that is not
///   installed throw a <see cref="BelayException"/> saying so.</item>
/// <item>A tool's refusal for lack of privileges throws with <see cref="ExitCodes.NeedsPrivileges"/> and
///   says to use sudo (or an elevated prompt) or the user scope; any other failure throws with
///   the command that failed and what it printed.</item>
/// </list>
/// </summary>
public interface IServiceBackend
{
    /// <summary>systemd, launchd, smf, windows or none.</summary>
    string Name { get; }

    /// <summary>Writes and registers the definition, enables it at boot, and starts (or restarts) it when <paramref name="start"/>.</summary>
    void Install(ServiceDefinition definition, bool start);

    /// <summary>Stops the service, unregisters it and removes its definition. False when it was not installed.</summary>
    bool Uninstall(ServiceDefinition definition);

    void Start(ServiceDefinition definition);

    void Stop(ServiceDefinition definition);

    void Restart(ServiceDefinition definition);

    ServiceStatus Status(ServiceDefinition definition);
}
