using Belay.Core.IO;

namespace Belay.Core.Services;

/// <summary>
/// The SMF backend (illumos, Solaris): writes <see cref="SmfManifest"/> to
/// /var/svc/manifest/application/belay.xml (0444, root-owned, as illumos packages deliver
/// manifests) and drives svccfg, svcadm and svcs. The instance is
/// <see cref="SmfManifest.Fmri"/> (svc:/application/belay/agent:default).
/// <para>
/// Install: <c>svcs -H -o state FMRI</c> (what is there now), write the manifest,
/// <c>svccfg validate</c>, <c>svccfg import</c> (a new instance arrives disabled; an existing
/// one keeps its enabled state and gets the new properties, which its next start uses), then
/// with start: <c>svcadm enable -s</c> (persistently enabled, so also at boot; -s waits for
/// online), preceded by <c>svcadm clear</c> when it was in maintenance, or
/// <c>svcadm restart</c> instead when it was online, so the new start method runs.
/// Without start, a new instance stays disabled: SMF has no "enabled at boot but not
/// running now" that svcadm can set (enable starts it at once; <c>-t</c> lasts until reboot),
/// so <c>belay start</c> is what enables it. An instance that was already enabled stays
/// enabled and keeps running its old start method until it restarts.
/// </para>
/// <para>
/// Uninstall: <c>svcadm disable -s</c> (runs the stop method and waits), <c>svccfg delete</c>
/// the service (its instance goes with it), remove the manifest so that manifest-import does
/// not bring it back at the next boot. Stop is a temporary disable (<c>svcadm disable -s -t</c>):
/// stopped until <c>belay start</c> or the next boot, like <c>systemctl stop</c>.
/// </para>
/// <para>
/// Error texts (from illumos-gate's svcs/svcadm/svccfg; not checked on a real host here):
/// an FMRI that matches nothing prints "... doesn't match any instances" (svcs, svcadm);
/// a refusal for lack of authorisation prints "Permission denied" and exits 1.
/// </para>
/// </summary>
public sealed class SmfBackend : IServiceBackend
{
    private readonly IProcessRunner _runner;
    private readonly string _manifestPath;

    public SmfBackend(IProcessRunner runner, string? manifestPath = null)
    {
        ArgumentNullException.ThrowIfNull(runner);
        _runner = runner;
        _manifestPath = manifestPath ?? SmfManifest.Path;
    }

    public string Name => "smf";

    /// <summary>The default SMF log of the instance, where svc.startd writes about it (<c>svcs -L</c> prints it).</summary>
    public const string DefaultLogPath = "/var/svc/log/application-belay-agent:default.log";

    public void Install(ServiceDefinition definition, bool start)
    {
        ArgumentNullException.ThrowIfNull(definition);
        string manifest;
        try
        {
            manifest = SmfManifest.Render(definition);
        }
        catch (ArgumentException e)
        {
            throw new BelayException(ExitCodes.Usage, $"the keeper cannot be installed with SMF: {e.Message}", e);
        }
        var before = State();
        WriteManifest(manifest);
        Run(["svccfg", "validate", _manifestPath]);
        Run(["svccfg", "import", _manifestPath]);
        if (!start)
        {
            return;
        }
        StartFrom(before);
    }

    public bool Uninstall(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var state = State();
        var hasFile = File.Exists(_manifestPath);
        if (state is null && !hasFile)
        {
            return false;
        }
        if (state is not null)
        {
            Run(["svcadm", "disable", "-s", SmfManifest.Fmri]);
            Run(["svccfg", "delete", SmfManifest.ServiceFmri]);
        }
        if (hasFile)
        {
            try
            {
                File.Delete(_manifestPath);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new BelayException(ExitCodes.NeedsPrivileges, $"cannot remove {_manifestPath}: {SystemErrors.Describe(e)}; {PrivilegeHint}", e);
            }
        }
        return true;
    }

    public void Start(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (Bare(RequireInstalled("start")) == "maintenance")
        {
            Run(["svcadm", "clear", SmfManifest.Fmri]);
        }
        Enable();
    }

    public void Stop(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        RequireInstalled("stop");
        Run(["svcadm", "disable", "-s", "-t", SmfManifest.Fmri]);
    }

    public void Restart(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        StartFrom(RequireInstalled("restart"));
    }

    /// <summary>Brings the instance online from <paramref name="state"/>: restart when online (runs the new start
    /// method), clear then enable out of maintenance, else enable.</summary>
    private void StartFrom(string? state)
    {
        switch (Bare(state))
        {
            case "online" or "degraded":
                Run(["svcadm", "restart", SmfManifest.Fmri]);
                break;
            case "maintenance":
                Run(["svcadm", "clear", SmfManifest.Fmri]);
                Enable();
                break;
            default:
                Enable();
                break;
        }
    }

    public ServiceStatus Status(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var state = State();
        if (state is null)
        {
            return new ServiceStatus(false, false, "not installed",
                File.Exists(_manifestPath)
                    ? $"{_manifestPath} exists but is not imported: belay install --service-manager smf"
                    : "belay install --service-manager smf");
        }
        var log = _runner.Run(["svcs", "-L", SmfManifest.Fmri]) is { ExitCode: 0 } l && l.StdOut.Trim() is { Length: > 0 } path
            ? path.Split('\n')[0].Trim()
            : DefaultLogPath;
        var running = Bare(state) is "online" or "degraded";
        return new ServiceStatus(true, running, state, $"svcs -xv {SmfManifest.Fmri}; SMF log {log}");
    }

    /// <summary>The instance's state as svcs prints it (online, offline, disabled, maintenance, degraded, uninitialized; a trailing * while it changes); null when there is no such instance.</summary>
    private string? State()
    {
        string[] command = ["svcs", "-H", "-o", "state", SmfManifest.Fmri];
        var result = _runner.Run(command);
        if (result.ExitCode == 0 && result.StdOut.Trim() is { Length: > 0 } state)
        {
            return state.Split('\n')[0].Trim();
        }
        if (NotFound(result))
        {
            return null;
        }
        throw Failure(command, result);
    }

    private string RequireInstalled(string verb) =>
        State() ?? throw new BelayException(
            $"cannot {verb} the keeper: the SMF service {SmfManifest.Fmri} is not installed; install it with `belay install --service-manager smf`");

    private void Enable() => Run(["svcadm", "enable", "-s", SmfManifest.Fmri]);

    private void WriteManifest(string manifest)
    {
        try
        {
            if (System.IO.Path.GetDirectoryName(_manifestPath) is { Length: > 0 } dir)
            {
                Directory.CreateDirectory(dir);
            }
            AtomicFile.WriteAllText(_manifestPath, manifest, SmfManifest.FileMode);
            if (!OperatingSystem.IsWindows())
            {
                // The create mode is subject to the umask; set it exactly.
                File.SetUnixFileMode(_manifestPath, SmfManifest.FileMode);
            }
        }
        catch (UnauthorizedAccessException e)
        {
            throw new BelayException(ExitCodes.NeedsPrivileges, $"cannot write {_manifestPath}: {SystemErrors.Describe(e)}; {PrivilegeHint}", e);
        }
    }

    private void Run(IReadOnlyList<string> command)
    {
        var result = _runner.Run(command);
        if (result.ExitCode != 0)
        {
            throw Failure(command, result);
        }
    }

    private const string PrivilegeHint =
        "run belay as root (sudo or pfexec); SMF has no per-user services, so --scope user does not apply";

    private static BelayException Failure(IReadOnlyList<string> command, ProcessResult result)
    {
        var line = SystemProcessRunner.Describe(command);
        if (result.Output.Contains("Permission denied", StringComparison.OrdinalIgnoreCase)
            || result.Output.Contains("not authorized", StringComparison.OrdinalIgnoreCase))
        {
            return new BelayException(ExitCodes.NeedsPrivileges, $"{line} was refused: {result.Output}; {PrivilegeHint}");
        }
        var hint = command[0] == "svcadm" && command.Count > 1 && command[1] is "enable" or "restart" or "clear"
            ? $"; see `svcs -xv {SmfManifest.Fmri}` and its log (`svcs -L {SmfManifest.Fmri}`)"
            : "";
        return new BelayException($"{line} failed (exit {result.ExitCode}): {result.Output}{hint}");
    }

    private static bool NotFound(ProcessResult result) =>
        result.Output.Contains("doesn't match any instances", StringComparison.Ordinal)
        || result.Output.Contains("doesn't match any entities", StringComparison.Ordinal);

    /// <summary>The state without the * svcs adds while it changes.</summary>
    private static string? Bare(string? state) => state?.TrimEnd('*');
}
