namespace Belay.Core.Install;

/// <summary>Whether Belay is installed for the whole host (root) or for one user.</summary>
public enum InstallScope
{
    System,
    User,
}

/// <summary>
/// Where an installation lives (DESIGN.md, "On-disk layout"). The binaries folder holds
/// bin/belay and versions/&lt;version&gt;/belay-agent; config holds config.json; state holds
/// the keeper's state.json, the agent's agent.json, the host id, the keeper's lock and
/// socket; logs hold keeper.log and agent.log.
/// </summary>
public sealed record InstallLayout(string BinRoot, string ConfigDir, string StateDir, string LogDir)
{
    public string BelayExe => Path.Combine(BinRoot, "bin", OperatingSystem.IsWindows() ? "belay.exe" : "belay");

    /// <summary>The keeper that `belay run` execs on Unix (Windows runs the keeper inside belay.exe).</summary>
    public string KeeperExe => Path.Combine(BinRoot, "bin", "belay-keeper");
    public string VersionsDir => Path.Combine(BinRoot, "versions");
    public string VersionDir(string version) => Path.Combine(VersionsDir, version);
    public string AgentExe(string version) => Path.Combine(VersionDir(version), OperatingSystem.IsWindows() ? "belay-agent.exe" : "belay-agent");
    public string ConfigFile => Path.Combine(ConfigDir, "config.json");
    public string StateFile => Path.Combine(StateDir, "state.json");
    public string AgentStatusFile => Path.Combine(StateDir, "agent.json");
    public string HostIdFile => Path.Combine(StateDir, "host-id");

    /// <summary>trust.json: the newest verified root and the manifest watermark (core/Feed/TrustStore.cs).</summary>
    public string TrustFile => Path.Combine(StateDir, "trust.json");
    /// <summary>groups.json: the highest group document sequence verified, per group (core/Deploy/GroupWatermarks.cs).</summary>
    public string GroupWatermarkFile => Path.Combine(StateDir, "groups.json");

    /// <summary>
    /// The group's age identity (<c>belay install --group-identity FILE</c>), owner-only (0600, an owner-only
    /// ACL on Windows), beside config.json: what decrypts the secrets of the group's apps (core/Deploy/AppSecrets.cs).
    /// </summary>
    public string GroupIdentityFile => Path.Combine(ConfigDir, "group-identity");
    public string KeeperLockFile => Path.Combine(StateDir, "keeper.lock");
    public string KeeperPidFile => Path.Combine(StateDir, "keeper.pid");
    public string KeeperSocket => Path.Combine(StateDir, "keeper.sock");
    public string AgentLockFile => Path.Combine(StateDir, "agent.lock");
    public string AgentPidFile => Path.Combine(StateDir, "agent.pid");
    public string DownloadsDir => Path.Combine(StateDir, "downloads");
    public string KeeperLog => Path.Combine(LogDir, "keeper.log");
    public string AgentLog => Path.Combine(LogDir, "agent.log");

    /// <summary>
    /// The layout for a scope, or everything under <paramref name="prefix"/> (bin and
    /// versions at its top, then etc/, var/ and log/). User scope follows the XDG base
    /// directories on Linux and SmartOS, ~/Library on macOS, %LOCALAPPDATA% on Windows.
    /// </summary>
    public static InstallLayout For(InstallScope scope, string? prefix, Func<string, string?>? environment = null)
    {
        var env = environment ?? Environment.GetEnvironmentVariable;
        if (!string.IsNullOrEmpty(prefix))
        {
            var root = Path.GetFullPath(prefix);
            return new InstallLayout(root, Path.Combine(root, "etc"), Path.Combine(root, "var"), Path.Combine(root, "log"));
        }
        if (OperatingSystem.IsWindows())
        {
            if (scope == InstallScope.System)
            {
                var programFiles = Environment.GetFolderPath(Environment.SpecialFolder.ProgramFiles);
                var data = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.CommonApplicationData), "Belay");
                return new InstallLayout(Path.Combine(programFiles, "Belay"), Path.Combine(data, "etc"), data, Path.Combine(data, "logs"));
            }
            var local = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "Belay");
            return new InstallLayout(local, Path.Combine(local, "etc"), Path.Combine(local, "state"), Path.Combine(local, "logs"));
        }
        var home = env("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (OperatingSystem.IsMacOS())
        {
            if (scope == InstallScope.System)
            {
                const string support = "/Library/Application Support/Belay";
                return new InstallLayout(support, Path.Combine(support, "etc"), Path.Combine(support, "state"), "/Library/Logs/Belay");
            }
            var user = Path.Combine(home, "Library", "Application Support", "Belay");
            return new InstallLayout(user, Path.Combine(user, "etc"), Path.Combine(user, "state"), Path.Combine(home, "Library", "Logs", "Belay"));
        }
        if (scope == InstallScope.System)
        {
            return new InstallLayout("/opt/belay", "/etc/belay", "/var/lib/belay", "/var/log/belay");
        }
        string Xdg(string variable, string fallback) =>
            env(variable) is { Length: > 0 } v && Path.IsPathRooted(v) ? v : Path.Combine(home, fallback);
        var state = Path.Combine(Xdg("XDG_STATE_HOME", ".local/state"), "belay");
        return new InstallLayout(
            Path.Combine(Xdg("XDG_DATA_HOME", ".local/share"), "belay"),
            Path.Combine(Xdg("XDG_CONFIG_HOME", ".config"), "belay"),
            state,
            Path.Combine(state, "log"));
    }
}
