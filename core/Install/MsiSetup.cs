using System.Security.Cryptography;
using Belay.Core.IO;
using Belay.Core.Minisign;
using Belay.Core.Update;
using Belay.Core.Versioning;

namespace Belay.Core.Install;

/// <summary>What the MSI passes to <c>belay msi configure</c>: its properties (empty when not given) and the bundled agent version.</summary>
/// <param name="Version">The agent version the MSI installed in versions\&lt;Version&gt;.</param>
/// <param name="Feed">FEED: required unless Belay is already configured (an upgrade or a repair keeps the feed).</param>
/// <param name="Channel">CHANNEL (the MSI's default is stable).</param>
/// <param name="Token">TOKEN: written to config.json; empty keeps the token there is.</param>
/// <param name="RootKeys">ROOTKEY, else the installed config's keys, else the ones compiled into belay.exe.</param>
/// <param name="Group">GROUP: the group whose apps the host runs; empty keeps the configured one (default for a new install).</param>
/// <param name="GroupIdentity">GROUP_IDENTITY: a path to the group's age identity file, copied owner-only; empty keeps the one there is.</param>
public sealed record MsiSettings(string Version, string Feed, string Channel, string Token, IReadOnlyList<MinisignPublicKey> RootKeys,
    string Group = "", string GroupIdentity = "");

/// <summary>
/// The MSI's custom actions, run by the installed belay.exe as LocalSystem (deferred, no
/// impersonation). <see cref="Configure"/> runs after InstallServices and before StartServices:
/// it writes config.json (the feed, channel, token and root keys; service manager "windows"),
/// the host id, and state.json with the bundled version current, so that the keeper the SCM
/// starts next finds a complete installation. <see cref="Remove"/> runs on uninstall, after
/// the service is deleted and before RemoveFiles: it removes what the MSI did not install
/// (agent versions downloaded by updates) and with purge the config, state and logs.
/// <para>
/// A failed install leaves nothing behind: Windows Installer undoes its own steps (files,
/// service), but not what a custom action wrote. So on a first install Configure lists, in
/// <see cref="InstallMarker"/> and before it writes anything, every folder and file it is
/// about to create; <see cref="Rollback"/> (the MSI's rollback action, which runs only when the
/// install fails) deletes exactly those, config.json with its token first; <see cref="Commit"/>
/// (its commit action, once the install succeeded) deletes the list. An upgrade or a repair
/// creates no list: what it changed in an existing config stays as it was written.
/// </para>
/// </summary>
public static class MsiSetup
{
    /// <summary>In the state folder (C:\ProgramData\Belay): what a first install's Configure created, one path a line.</summary>
    public const string InstallMarker = ".msi-install";

    public static string MarkerPath(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return Path.Combine(layout.StateDir, InstallMarker);
    }

    public static InstallConfig Configure(InstallLayout layout, MsiSettings settings, TimeProvider clock, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(say);
        if (!SemVersion.TryParse(settings.Version, out _, out var error))
        {
            throw new BelayException(ExitCodes.Usage, $"--version '{settings.Version}': {error}");
        }
        // Checked before anything is written: a GROUP_IDENTITY that is not an age identity fails the install.
        var identity = settings.GroupIdentity.Length > 0 ? GroupIdentityFile.Read(settings.GroupIdentity, say) : null;
        var existing = File.Exists(layout.ConfigFile) ? InstallConfig.Load(layout.ConfigFile) : null;
        if (settings.Feed.Length == 0 && existing is null)
        {
            throw new BelayException(ExitCodes.Usage,
                "Belay needs a feed: msiexec /i belay.msi /qn FEED=https://feed.example.com/ (and CHANNEL=..., TOKEN=... if needed)");
        }
        var config = existing ?? new InstallConfig { Scope = "system", Paths = ConfigPaths.From(layout) };
        config.ServiceManager = "windows";
        if (settings.Feed.Length > 0)
        {
            config.Feeds = [settings.Feed];
        }
        if (settings.Channel.Length > 0)
        {
            config.Channel = settings.Channel;
        }
        if (settings.Token.Length > 0)
        {
            config.Token = settings.Token;
        }
        if (settings.Group.Length > 0)
        {
            config.Group = settings.Group;
        }
        if (settings.RootKeys.Count > 0)
        {
            config.RootKeys = [.. settings.RootKeys.Select(k => k.ToBase64())];
        }
        if (config.RootKeys.Count == 0)
        {
            throw new BelayException(ExitCodes.Usage, "no root key: this belay.exe has none compiled in, so give the feed's root public key with ROOTKEY=...");
        }
        config.Validate("the MSI's properties");
        var agent = layout.AgentExe(settings.Version);
        if (!File.Exists(agent))
        {
            throw new BelayException($"the MSI did not install the agent {settings.Version}: {agent} is missing");
        }

        RecordWhatWillBeCreated(layout, fresh: existing is null);
        foreach (var dir in new[] { layout.ConfigDir, layout.StateDir, layout.LogDir })
        {
            Directory.CreateDirectory(dir);
        }
        config.Save(layout.ConfigFile);
        if (identity is not null)
        {
            GroupIdentityFile.Install(identity, layout, OwnerOnlyScope.System, say);
        }
        var protectedNote = OperatingSystem.IsWindows() ? RestrictToAdministrators(layout.ConfigDir) : null;
        say($"{(existing is null ? "wrote" : "updated")} {layout.ConfigFile}: feed {string.Join(", ", config.Feeds)}, channel {config.Channel}, group {config.Group}, " +
            $"token {(config.Token is { Length: > 0 } ? "set" : "none")}{protectedNote}");
        if (!File.Exists(layout.HostIdFile))
        {
            AtomicFile.WriteAllText(layout.HostIdFile, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)) + "\n");
        }

        // state.json: the bundled version becomes current. On an upgrade the old version's folder
        // is gone (its MSI removed it) unless an update downloaded it: only then is it kept as previous.
        InstallState state;
        if (File.Exists(layout.StateFile))
        {
            state = InstallStateStore.Load(layout.StateFile);
            if (state.Current != settings.Version)
            {
                var old = state.Current;
                state.Previous = File.Exists(layout.AgentExe(old)) ? old : null;
                state.Current = settings.Version;
                state.Trial = null;
                state.CommittedAt = clock.GetUtcNow();
                state.Bad.Remove(settings.Version);
            }
        }
        else
        {
            state = InstallState.ForInstall(settings.Version, clock.GetUtcNow());
        }
        InstallStateStore.Save(layout.StateFile, state);
        say($"agent {settings.Version} is current ({layout.StateFile})");
        return config;
    }

    /// <summary>
    /// Before a first install writes anything: the folders and files it will create, so that
    /// <see cref="Rollback"/> can take them away again. Folders that already exist (kept by an
    /// earlier uninstall without PURGE) are not listed, only the files new in them.
    /// </summary>
    private static void RecordWhatWillBeCreated(InstallLayout layout, bool fresh)
    {
        var marker = MarkerPath(layout);
        if (!fresh)
        {
            File.Delete(marker);
            return;
        }
        var created = new List<string>();
        foreach (var dir in new[] { layout.StateDir, layout.ConfigDir, layout.LogDir })
        {
            if (!Directory.Exists(dir))
            {
                created.Add(Path.TrimEndingDirectorySeparator(dir) + Path.DirectorySeparatorChar);
            }
        }
        // The secrets too: the group identity that configure copies and the hub credential that enrollment
        // writes right after it, so that a failed install never leaves a key in a folder an uninstall kept.
        foreach (var file in new[] { layout.ConfigFile, layout.GroupIdentityFile, Hub.HubSettings.PathIn(layout), layout.HostIdFile, layout.StateFile })
        {
            if (!File.Exists(file))
            {
                created.Add(file);
            }
        }
        Directory.CreateDirectory(layout.StateDir);
        AtomicFile.WriteAllText(marker, string.Join("\n", created) + "\n");
    }

    /// <summary>
    /// The MSI's rollback action: deletes what <see cref="Configure"/> created on a first install
    /// (files, then folders with whatever the keeper wrote into them meanwhile), then the list.
    /// Never fails: a rollback goes on whatever happens; what could not go is said.
    /// </summary>
    public static IReadOnlyList<string> Rollback(InstallLayout layout, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(say);
        var marker = MarkerPath(layout);
        string[] created;
        try
        {
            created = File.Exists(marker) ? File.ReadAllLines(marker) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            say($"cannot read {marker}: {SystemErrors.Describe(e)}; nothing undone");
            return [];
        }
        if (created.Length == 0)
        {
            say("rollback: this was not a first install (or Configure did not run); nothing of Belay's own to undo");
            return [];
        }
        var removed = new List<string>();
        // Files first (config.json with the token before anything else), then folders, deepest first.
        foreach (var path in created.Where(p => p.Length > 0 && !Path.EndsInDirectorySeparator(p))
                     .Concat(created.Where(Path.EndsInDirectorySeparator).OrderByDescending(p => p.Length)))
        {
            try
            {
                if (Path.EndsInDirectorySeparator(path))
                {
                    if (Directory.Exists(path))
                    {
                        Directory.Delete(path, recursive: true);
                        removed.Add(path);
                    }
                }
                else if (File.Exists(path))
                {
                    File.Delete(path);
                    removed.Add(path);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                say($"rollback: cannot remove {path}: {SystemErrors.Describe(e)}");
            }
        }
        try
        {
            // Gone already when the folder it is in was one of those created (a first install).
            if (File.Exists(marker))
            {
                File.Delete(marker);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            say($"rollback: cannot remove {marker}: {SystemErrors.Describe(e)}");
        }
        say($"rollback: removed {(removed.Count == 0 ? "nothing (it was already gone)" : string.Join(", ", removed))}");
        return removed;
    }

    /// <summary>The MSI's commit action: the install succeeded, so the list of what to undo goes.</summary>
    public static void Commit(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        File.Delete(MarkerPath(layout));
    }

    /// <summary>
    /// Removes the agent versions (those updates downloaded too) and, with <paramref name="purge"/>,
    /// config, state and logs. Not the binaries the MSI installed: RemoveFiles does that. Without
    /// purge config.json stays too: the MSI runs this action only on an uninstall that is not an
    /// upgrade's removal of the old version, but Wine's msi does not set UPGRADINGPRODUCTCODE
    /// there, and an upgrade must never lose the feed and token it was installed with.
    /// </summary>
    public static void Remove(InstallLayout layout, bool purge, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(say);
        if (Directory.Exists(layout.VersionsDir))
        {
            Directory.Delete(layout.VersionsDir, recursive: true);
        }
        if (purge)
        {
            foreach (var dir in new[] { layout.ConfigDir, layout.LogDir, layout.StateDir })
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
            say($"removed {layout.VersionsDir}, {layout.ConfigDir}, {layout.StateDir} and {layout.LogDir}");
        }
        else
        {
            say($"removed {layout.VersionsDir}; kept {layout.ConfigFile}, {layout.StateDir} (host id, sequence seen, bad versions) and {layout.LogDir} (PURGE=1 removes them)");
        }
    }

    /// <summary>
    /// config.json may hold the token: its folder gets a protected ACL (no inheritance from
    /// ProgramData, where Users may read) that grants full control to SYSTEM and Administrators alone.
    /// </summary>
    [System.Runtime.Versioning.SupportedOSPlatform("windows")]
    private static string RestrictToAdministrators(string dir)
    {
        try
        {
            var security = new System.Security.AccessControl.DirectorySecurity();
            security.SetAccessRuleProtection(isProtected: true, preserveInheritance: false);
            foreach (var sid in new[] { System.Security.Principal.WellKnownSidType.LocalSystemSid, System.Security.Principal.WellKnownSidType.BuiltinAdministratorsSid })
            {
                security.AddAccessRule(new System.Security.AccessControl.FileSystemAccessRule(
                    new System.Security.Principal.SecurityIdentifier(sid, null),
                    System.Security.AccessControl.FileSystemRights.FullControl,
                    System.Security.AccessControl.InheritanceFlags.ContainerInherit | System.Security.AccessControl.InheritanceFlags.ObjectInherit,
                    System.Security.AccessControl.PropagationFlags.None,
                    System.Security.AccessControl.AccessControlType.Allow));
            }
            new DirectoryInfo(dir).SetAccessControl(security);
            return $" ({dir} readable by SYSTEM and Administrators only)";
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException or InvalidOperationException or PlatformNotSupportedException or System.Security.AccessControl.PrivilegeNotHeldException)
        {
            return $" (could not restrict {dir} to SYSTEM and Administrators: {SystemErrors.Describe(e)})";
        }
    }
}
