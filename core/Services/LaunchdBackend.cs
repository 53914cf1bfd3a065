using System.Globalization;
using System.Runtime.InteropServices;
using Belay.Core.Install;
using Belay.Core.IO;

namespace Belay.Core.Services;

/// <summary>
/// The launchd backend (macOS): writes <see cref="LaunchdPlist"/> and drives the modern
/// launchctl subcommands (bootstrap, bootout, enable, kickstart, print; never the
/// deprecated load/unload). System scope is a LaunchDaemon in the <c>system</c> domain
/// (/Library/LaunchDaemons/com.belay.agent.plist); user scope a LaunchAgent in
/// <c>gui/UID</c> (~/Library/LaunchAgents/com.belay.agent.plist), which exists only while
/// the user is logged in at the console.
/// <para>
/// Install: refuse early when the system scope is asked for without root (launchctl's
/// system domain needs root to change, and without root it hides the reason behind
/// "5: Input/output error"); <c>launchctl print</c> (loaded?), write the plist 0644 (launchd
/// ignores a plist that is group- or world-writable; a root process creates it owned by root
/// and, by BSD rules, with the group of /Library/LaunchDaemons, wheel), when loaded
/// <c>bootout</c> and wait until print no longer finds it (that is how a changed plist is
/// applied: launchd reads the file only at bootstrap), <c>enable</c> (clears a disable left in
/// launchd's override database, which would stop RunAtLoad at boot and make bootstrap fail),
/// and with start <c>bootstrap</c>, which starts the keeper because of RunAtLoad.
/// </para>
/// <para>
/// Without start (<c>--no-start</c>): the plist is written and enabled but not bootstrapped,
/// so the keeper is not running afterwards (a job that was loaded is booted out: launchd
/// has no "loaded but not started" for a RunAtLoad job); it starts at the next boot (daemon)
/// or login (agent), or on <c>belay start</c>.
/// </para>
/// <para>
/// Stop is a bootout (a KeepAlive job that is only killed is started again at once); the
/// plist stays, so the keeper is back at the next boot or <c>belay start</c>. Start bootstraps
/// an unloaded job or kickstarts a loaded one; restart is <c>kickstart -k</c> (kill and start
/// again, with the loaded definition).
/// </para>
/// <para>
/// What is known and what assumed (not run on macOS here). Known from launchctl(1) and
/// widely reported output: print of an unknown service exits 113 with "Could not find
/// service"; bootout of one exits 3 "No such process" (113 on some releases, even 5 on
/// recent ones); bootout may exit 36 "Operation now in progress" although the job does
/// stop; bootstrap exits 5 "Input/output error" for many causes (the label still loaded or
/// draining, an invalid plist, a disabled service, wrong owner or mode) and, for a caller
/// that is not root, hides which; "1: Operation not permitted" is a refusal. A missing GUI
/// session prints "Could not find domain for user gui: UID". Assumed: that a retry after a
/// second clears the draining case, and the exact exit codes on future releases, which is
/// why the text is matched as well as the code.
/// </para>
/// </summary>
public sealed partial class LaunchdBackend : IServiceBackend
{
    private readonly IProcessRunner _runner;
    private readonly string? _plistPath;
    private readonly Func<uint> _uid;
    private readonly Action<TimeSpan> _sleep;

    /// <param name="runner">Runs launchctl.</param>
    /// <param name="plistPath">Where the plist goes; null for <see cref="LaunchdPlist.Path"/> of the definition's scope.</param>
    /// <param name="uid">The effective user id (for gui/UID and the root check); null for geteuid().</param>
    /// <param name="sleep">How to wait between polls; null for <see cref="Thread.Sleep(TimeSpan)"/>.</param>
    public LaunchdBackend(IProcessRunner runner, string? plistPath = null, Func<uint>? uid = null, Action<TimeSpan>? sleep = null)
    {
        ArgumentNullException.ThrowIfNull(runner);
        _runner = runner;
        _plistPath = plistPath;
        _uid = uid ?? (() => OperatingSystem.IsWindows() ? 0u : GetEUid());
        _sleep = sleep ?? Thread.Sleep;
    }

    public string Name => "launchd";

    /// <summary>system, or gui/UID for a LaunchAgent.</summary>
    public string Domain(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        return definition.Scope == InstallScope.System ? "system" : "gui/" + _uid().ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The service target: system/com.belay.agent or gui/UID/com.belay.agent.</summary>
    public string Target(ServiceDefinition definition) => Domain(definition) + "/" + LaunchdPlist.Label;

    public string PlistPath(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        return _plistPath ?? LaunchdPlist.Path(definition.Scope);
    }

    public void Install(ServiceDefinition definition, bool start)
    {
        ArgumentNullException.ThrowIfNull(definition);
        string plist;
        try
        {
            plist = LaunchdPlist.Render(definition);
        }
        catch (ArgumentException e)
        {
            throw new BelayException(ExitCodes.Usage, $"the keeper cannot be installed with launchd: {e.Message}", e);
        }
        RequirePrivileges(definition);
        var loaded = Print(definition) is not null;
        WritePlist(definition, plist);
        if (loaded)
        {
            BootOut(definition);
        }
        Enable(definition);
        if (start)
        {
            Bootstrap(definition);
        }
    }

    public bool Uninstall(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var loaded = Print(definition) is not null;
        var path = PlistPath(definition);
        var hasFile = File.Exists(path);
        if (!loaded && !hasFile)
        {
            return false;
        }
        RequirePrivileges(definition);
        if (loaded)
        {
            BootOut(definition);
        }
        if (hasFile)
        {
            try
            {
                File.Delete(path);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new BelayException(ExitCodes.NeedsPrivileges, $"cannot remove {path}: {SystemErrors.Describe(e)}; {PrivilegeHint}", e);
            }
        }
        return true;
    }

    public void Start(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var loaded = RequireInstalled(definition, "start");
        RequirePrivileges(definition);
        if (loaded)
        {
            // Without -k: starts it if it is not running, does nothing if it is.
            Run(["launchctl", "kickstart", Target(definition)], definition);
        }
        else
        {
            Enable(definition);
            Bootstrap(definition);
        }
    }

    public void Stop(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (RequireInstalled(definition, "stop"))
        {
            RequirePrivileges(definition);
            BootOut(definition);
        }
    }

    public void Restart(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var loaded = RequireInstalled(definition, "restart");
        RequirePrivileges(definition);
        if (loaded)
        {
            Run(["launchctl", "kickstart", "-k", Target(definition)], definition);
        }
        else
        {
            Enable(definition);
            Bootstrap(definition);
        }
    }

    public ServiceStatus Status(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var print = Print(definition);
        var path = PlistPath(definition);
        if (print is null)
        {
            return File.Exists(path)
                ? new ServiceStatus(true, false, "not loaded", $"{path} is installed but not loaded: belay start (launchctl bootstrap {Domain(definition)} {path})")
                : new ServiceStatus(false, false, "not installed", "belay install --service-manager launchd");
        }
        var info = ParsePrint(print);
        var state = info.GetValueOrDefault("state", "unknown");
        var detail = new List<string> { "launchctl print " + Target(definition) };
        if (info.TryGetValue("pid", out var pid))
        {
            detail.Add("pid " + pid);
        }
        if ((info.GetValueOrDefault("last exit code") ?? info.GetValueOrDefault("last exit status")) is { } exit)
        {
            detail.Add("last exit " + exit);
        }
        if (definition.StdoutLog.Length > 0)
        {
            detail.Add("log " + definition.StdoutLog);
        }
        return new ServiceStatus(true, state == "running", state, string.Join("; ", detail));
    }

    /// <summary>
    /// The top-level "key = value" lines of <c>launchctl print</c> (one tab in; nested
    /// blocks such as arguments, environment or endpoints are skipped, so a "state" inside
    /// them is not mistaken for the job's). The format is not a documented interface.
    /// </summary>
    public static IReadOnlyDictionary<string, string> ParsePrint(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var depth = 0;
        foreach (var raw in output.ReplaceLineEndings("\n").Split('\n'))
        {
            var line = raw.Trim();
            if (line.EndsWith('{'))
            {
                depth++;
                continue;
            }
            if (line.StartsWith('}'))
            {
                depth = Math.Max(0, depth - 1);
                continue;
            }
            if (depth == 1 && line.IndexOf(" = ", StringComparison.Ordinal) is var at and > 0)
            {
                values.TryAdd(line[..at].Trim(), line[(at + 3)..].Trim());
            }
        }
        return values;
    }

    /// <summary><c>launchctl print TARGET</c>: its output when the job is loaded, null when it is not.</summary>
    private string? Print(ServiceDefinition definition)
    {
        string[] command = ["launchctl", "print", Target(definition)];
        var result = _runner.Run(command);
        if (result.ExitCode == 0)
        {
            return result.StdOut;
        }
        CheckDomain(definition, result);
        if (result.ExitCode == 113 || result.Output.Contains("Could not find service", StringComparison.Ordinal))
        {
            return null;
        }
        throw Failure(command, result);
    }

    /// <summary>True when loaded; false when only the plist exists; throws when neither.</summary>
    private bool RequireInstalled(ServiceDefinition definition, string verb)
    {
        var loaded = Print(definition) is not null;
        if (!loaded && !File.Exists(PlistPath(definition)))
        {
            throw new BelayException(
                $"cannot {verb} the keeper: {LaunchdPlist.Label} is not installed in launchd ({PlistPath(definition)} does not exist); install it with `belay install --service-manager launchd`");
        }
        return loaded;
    }

    /// <summary>
    /// The system domain takes changes from root only; a LaunchAgent for root (sudo with
    /// --scope user) would go to gui/0 and to root's home, which is not what anyone means.
    /// </summary>
    private void RequirePrivileges(ServiceDefinition definition)
    {
        var uid = _uid();
        if (definition.Scope == InstallScope.System && uid != 0)
        {
            throw new BelayException(ExitCodes.NeedsPrivileges,
                $"the launchd system domain takes changes from root only (this is uid {uid}): {PrivilegeHint}");
        }
        if (definition.Scope == InstallScope.User && uid == 0)
        {
            throw new BelayException(ExitCodes.Usage,
                "--scope user installs a LaunchAgent for the user who runs belay; run it as that user without sudo, or use --scope system for a LaunchDaemon");
        }
    }

    private void WritePlist(ServiceDefinition definition, string plist)
    {
        var path = PlistPath(definition);
        try
        {
            if (System.IO.Path.GetDirectoryName(path) is { Length: > 0 } dir)
            {
                Directory.CreateDirectory(dir);
            }
            AtomicFile.WriteAllText(path, plist, LaunchdPlist.FileMode);
            if (!OperatingSystem.IsWindows())
            {
                // The create mode is subject to the umask; launchd wants exactly 0644 (never group/world-writable).
                File.SetUnixFileMode(path, LaunchdPlist.FileMode);
            }
        }
        catch (UnauthorizedAccessException e)
        {
            throw new BelayException(ExitCodes.NeedsPrivileges, $"cannot write {path}: {SystemErrors.Describe(e)}; {PrivilegeHint}", e);
        }
    }

    private void Enable(ServiceDefinition definition) => Run(["launchctl", "enable", Target(definition)], definition);

    /// <summary>
    /// <c>launchctl bootstrap DOMAIN PLIST</c>. Exit 5 (EIO) or 37 (EALREADY) can mean the old
    /// job is still draining after a bootout: one retry after two seconds.
    /// </summary>
    private void Bootstrap(ServiceDefinition definition)
    {
        var path = PlistPath(definition);
        string[] command = ["launchctl", "bootstrap", Domain(definition), path];
        var result = _runner.Run(command);
        if (result.ExitCode is 5 or 37 && !IsPermission(result))
        {
            _sleep(TimeSpan.FromSeconds(2));
            result = _runner.Run(command);
        }
        if (result.ExitCode == 0)
        {
            return;
        }
        CheckDomain(definition, result);
        if (IsPermission(result))
        {
            throw Failure(command, result);
        }
        throw new BelayException(
            $"{SystemProcessRunner.Describe(command)} failed (exit {result.ExitCode}): {result.Output}; launchd says this when the plist is invalid "
            + $"(`plutil -lint {path}`), not owned by root:wheel or writable by others (`ls -l {path}`), the service is disabled "
            + $"(`launchctl print-disabled {Domain(definition)}`), or the label is still loaded (`launchctl print {Target(definition)}`); "
            + "the system log has the reason (`log show --last 5m --predicate 'process == \"launchd\"'`)");
    }

    /// <summary>
    /// <c>launchctl bootout TARGET</c>, then waits until print no longer finds the job: bootout
    /// normally waits for the job to exit (SIGTERM, SIGKILL after ExitTimeOut) but has been seen
    /// to return 36 (in progress) first, and "not found" (3, 113) means it is gone already.
    /// </summary>
    private void BootOut(ServiceDefinition definition)
    {
        string[] command = ["launchctl", "bootout", Target(definition)];
        var result = _runner.Run(command);
        if (IsPermission(result))
        {
            throw Failure(command, result);
        }
        var expected = result.ExitCode is 0 or 3 or 36 or 113;
        var deadline = expected ? definition.StopTimeoutSeconds + 10 : 0;
        for (var waited = 0; ; waited++)
        {
            if (Print(definition) is null)
            {
                return;
            }
            if (waited >= deadline)
            {
                break;
            }
            _sleep(TimeSpan.FromSeconds(1));
        }
        throw result.ExitCode == 0
            ? new BelayException($"{SystemProcessRunner.Describe(command)} returned but {Target(definition)} is still loaded after {deadline} s; see `launchctl print {Target(definition)}`")
            : Failure(command, result);
    }

    private void Run(IReadOnlyList<string> command, ServiceDefinition definition)
    {
        var result = _runner.Run(command);
        if (result.ExitCode != 0)
        {
            CheckDomain(definition, result);
            throw Failure(command, result);
        }
    }

    /// <summary>gui/UID exists only while UID is logged in at the console (not over ssh alone).</summary>
    private void CheckDomain(ServiceDefinition definition, ProcessResult result)
    {
        if (result.Output.Contains("Could not find domain", StringComparison.Ordinal))
        {
            throw new BelayException(definition.Scope == InstallScope.User
                ? $"launchd has no {Domain(definition)} domain: a LaunchAgent needs the user logged in at the console (not only over ssh); log in, or install a LaunchDaemon with sudo and --scope system ({result.Output})"
                : $"launchd has no {Domain(definition)} domain: {result.Output}");
        }
    }

    private const string PrivilegeHint = "run it with sudo, or install for this user only with --scope user (a LaunchAgent)";

    private static bool IsPermission(ProcessResult result) =>
        result.ExitCode == 1
        || result.Output.Contains("Operation not permitted", StringComparison.OrdinalIgnoreCase)
        || result.Output.Contains("Permission denied", StringComparison.OrdinalIgnoreCase);

    private static BelayException Failure(IReadOnlyList<string> command, ProcessResult result) =>
        IsPermission(result)
            ? new BelayException(ExitCodes.NeedsPrivileges, $"{SystemProcessRunner.Describe(command)} was refused: {result.Output}; {PrivilegeHint}")
            : new BelayException($"{SystemProcessRunner.Describe(command)} failed (exit {result.ExitCode}): {result.Output}");

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEUid();
}
