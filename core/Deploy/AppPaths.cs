using Belay.Core.Install;
using Belay.Core.Programs;

namespace Belay.Core.Deploy;

/// <summary>
/// Where deployments keep their files, derived from the installation's layout:
/// releases/&lt;app&gt;/&lt;version&gt;/ beside versions/ in the binaries folder (root-owned,
/// readable, so an app that runs as its own user can read its release but not change it);
/// state/apps/ (0700) for each app's journal and downloads; logs/apps/ for each app's
/// stdout and stderr (APP.log, APP.err.log, as programs) and its deploy log (APP.deploy.log).
/// An app is supervised as the unit "@APP" (<see cref="Unit"/>): '@' is not allowed in a
/// program's name, so an app never takes a program's pipes or state.
/// </summary>
public sealed record AppPaths(string ReleasesRoot, string StateDir, string LogDir)
{
    /// <summary>What the supervisor's unit names of apps start with.</summary>
    public const char UnitPrefix = '@';

    public static AppPaths For(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return new(Path.Combine(layout.BinRoot, "releases"), Path.Combine(layout.StateDir, "apps"), Path.Combine(layout.LogDir, "apps"));
    }

    public string Releases(string app) => Path.Combine(ReleasesRoot, app);
    public string Release(string app, string version) => Path.Combine(Releases(app), version);

    /// <summary>The private folder a fetch extracts into before pre_install; dot-named, so never taken for a release.</summary>
    public string Incoming(string app, string version) => Path.Combine(Releases(app), ".incoming-" + version);

    public string Journal(string app) => Path.Combine(StateDir, app + ".json");

    /// <summary>The pid and start time of the hook running for the app, so that a restarted agent can end it.</summary>
    public string HookRecord(string app) => Path.Combine(StateDir, app + ".hook");

    public string Downloads => Path.Combine(StateDir, "downloads");
    public string Log(string app) => Path.Combine(LogDir, app + ".log");
    public string ErrLog(string app) => Path.Combine(LogDir, app + ProgramsConfig.StderrSuffix + ".log");
    public string DeployLog(string app) => Path.Combine(LogDir, app + DeploySuffix + ".log");

    public const string DeploySuffix = ".deploy";

    /// <summary>The supervisor's name for the app's process: "@APP".</summary>
    public static string Unit(string app) => UnitPrefix + app;

    public static bool IsUnit(string name) => name.Length > 1 && name[0] == UnitPrefix;

    /// <summary>
    /// An app name of the group document (<see cref="DeployNames.IsValidApp"/>), not ending in .err
    /// or .deploy (they name its log files), and not agent or keeper (the names of Belay's own logs).
    /// </summary>
    public static bool IsValidAppName(string name) =>
        DeployNames.IsValidApp(name) && !ProgramsConfig.ReservedNames.Contains(name)
        && !name.EndsWith(ProgramsConfig.StderrSuffix, StringComparison.Ordinal) && !name.EndsWith(DeploySuffix, StringComparison.Ordinal);
}
