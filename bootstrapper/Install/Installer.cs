using System.Runtime.InteropServices;
using System.Text.Json;
using Belay.Bootstrapper.Keeper;
using Belay.Keeper;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Deploy;
using Belay.Core.Feed;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Minisign;
using Belay.Core.Services;
using Belay.Core.Update;
using Belay.Core.Versioning;

namespace Belay.Bootstrapper.Install;

/// <summary>What `belay install` was asked to do.</summary>
internal sealed record InstallRequest(
    IReadOnlyList<string> Feeds,
    string Channel,
    string? Version,
    InstallScope Scope,
    string? Prefix,
    string ServiceManager,
    IReadOnlyList<MinisignPublicKey> RootKeys,
    bool NoStart,
    bool AllowInsecureHttp,
    string PollInterval,
    string TrialDeadline,
    TimeSpan ReadyTimeout,
    string? LinkDir = null,
    string? Group = null,
    string? GroupIdentity = null,
    HubRequest? Hub = null);

/// <summary>
/// `belay install`, in this order, so that a failure at any step leaves nothing half-made:
/// <list type="number">
/// <item>check privileges, the transport and the root keys; read and verify root.json and the channel;</item>
/// <item>choose the version (pinned, or the newest this host is admitted to) with an artifact for this RID;</item>
/// <item>stage it: download (capped at the signed size, SHA-256 checked), extract defensively, rename into versions/&lt;v&gt;;</item>
/// <item>copy belay itself to bin/, write the host id, agent.json and config.json (0600), and state.json last:
///   state.json existing is what "installed" means;</item>
/// <item>start the keeper and wait until the agent reports ready;</item>
/// <item>put belay on PATH (a link in /usr/local/bin for a system install, see <see cref="PathLink"/>) and say how to run it.</item>
/// </list>
/// Re-running is safe: the same version and options do nothing and say so; other options
/// update the config (and restart the keeper); another version is staged and switched to
/// by the keeper, with a trial.
/// </summary>
internal sealed class Installer
{
    private readonly TimeProvider _clock;
    private readonly Action<string> _say;

    public Installer(Action<string> say, TimeProvider? clock = null)
    {
        _say = say;
        _clock = clock ?? TimeProvider.System;
    }

    public async Task<int> InstallAsync(InstallRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var code = await InstallCoreAsync(request, cancellationToken).ConfigureAwait(false);
        if (code == ExitCodes.Ok)
        {
            var layout = InstallLayout.For(request.Scope, request.Prefix);
            var link = PathLink.For(request.LinkDir, request.Scope, request.Prefix);
            var linked = link is not null && PathLink.Ensure(link, layout.BelayExe, _say) ? link : null;
            foreach (var line in PathLink.HowToRun(layout.BelayExe, linked, Environment.GetEnvironmentVariable("PATH"), request.Prefix is { } p ? $" --prefix {p}" : ""))
            {
                _say(line);
            }
        }
        return code;
    }

    private async Task<int> InstallCoreAsync(InstallRequest request, CancellationToken cancellationToken)
    {
        CheckPrivileges(request.Scope);
        if (request.RootKeys.Count == 0)
        {
            throw new BelayException(ExitCodes.Usage, "no root key: this build has none compiled in, so give the feed's root public key with --root-key");
        }
        // The group identity is read and checked before anything else: a file that is not one stops the install here.
        var identity = request.GroupIdentity is { } identityFile ? GroupIdentityFile.Read(identityFile, _say) : null;
        var layout = InstallLayout.For(request.Scope, request.Prefix);
        // Before anything is written: no link planted in the folders Belay writes into, and one command at a time.
        LayoutGuard.Check(layout);
        var missing = new[] { layout.BinRoot, layout.ConfigDir, layout.StateDir, layout.LogDir }.Where(d => !Directory.Exists(d)).ToList();
        InstallLock? installLock;
        int? holder;
        try
        {
            installLock = InstallLock.TryAcquire(layout, out holder);
        }
        catch (BelayException)
        {
            // The lock could not be taken at all (a folder it cannot create or write): nothing else runs here,
            // so the folders this install was about to make go again.
            RemoveFolders(missing.Where(d => d != layout.StateDir && !IsInside(layout.StateDir, d)).ToList());
            throw;
        }
        if (installLock is null)
        {
            // Another install holds it and is making these folders now: touch nothing of theirs.
            throw InstallLock.Busy(holder, "install");
        }
        using (installLock)
        {
            try
            {
                return await InstallLockedAsync(request, identity, layout, missing, cancellationToken).ConfigureAwait(false);
            }
            catch when (!File.Exists(layout.StateFile) && !File.Exists(layout.ConfigFile))
            {
                // Not installed, before or now: leave no folder this install made (the lock's included).
                RemoveFolders(missing);
                throw;
            }
        }
    }

    private async Task<int> InstallLockedAsync(InstallRequest request, GroupIdentity? identity, InstallLayout layout, List<string> missing, CancellationToken cancellationToken)
    {
        var (existing, existingState) = ReadExisting(layout);
        // Re-running install without --service-manager keeps the installation's manager; auto detects for a new one.
        string? detected = null;
        var manager = request.ServiceManager == "auto" && existing is not null
            ? existing.ServiceManager
            : ServiceBackends.Resolve(request.ServiceManager, request.Scope, out detected);
        var hostId = HostId.TryLoad(layout.HostIdFile, out var hostIdProblem);
        if (hostId is null && File.Exists(layout.HostIdFile))
        {
            _say($"warning: {hostIdProblem}; writing a new one");
        }
        hostId ??= HostId.New();
        var rid = RuntimeInformation.RuntimeIdentifier;

        var config = new InstallConfig
        {
            Feeds = [.. request.Feeds.Select(AbsoluteFeed)],
            Channel = request.Channel,
            // A re-install without --group keeps the host in its group; a first install joins "default".
            Group = request.Group ?? existing?.Group ?? DeployNames.DefaultGroup,
            RootKeys = [.. request.RootKeys.Select(k => k.ToBase64())],
            PinnedVersion = request.Version,
            Scope = request.Scope == InstallScope.System ? "system" : "user",
            ServiceManager = manager,
            PollInterval = request.PollInterval,
            TrialDeadline = request.TrialDeadline,
            AllowInsecureHttp = request.AllowInsecureHttp,
            Token = existing?.Token,
            Paths = ConfigPaths.From(layout),
        };
        config.Paths.Link = PathLink.For(request.LinkDir, request.Scope, request.Prefix);
        config.Validate("the install options", "check the options given to belay install");

        // 1-2. Read the feed as the agent will, and choose.
        var watermark = AgentStatus.TryLoad(layout.AgentStatusFile)?.Sequence ?? 0;
        using var client = new FeedClient(config.Feeds, request.RootKeys, config.Product, config.Channel, config.AllowInsecureHttp, _clock, trustFile: layout.TrustFile);
        var check = await client.CheckAsync(watermark, null, cancellationToken).ConfigureAwait(false);
        var manifest = check.Manifest!;
        _say($"feed {check.Source.Location}: channel {manifest.Channel}, sequence {manifest.Sequence}, verified against root key {string.Join(", ", request.RootKeys.Select(k => k.KeyIdHex))}");
        // Versions this host already found bad (kept across an uninstall) are not chosen again, unless pinned.
        var knownBad = existingState?.Bad ?? LoadBadVersions(layout);
        var candidates = request.Version is not null ? manifest : new ChannelManifest
        {
            Schema = manifest.Schema, Product = manifest.Product, Channel = manifest.Channel, Sequence = manifest.Sequence, Expires = manifest.Expires,
            Releases = [.. manifest.Releases.Where(r => !knownBad.Contains(r.Version))],
        };
        var (release, reason) = UpdatePolicy.ChooseInstall(candidates, rid, hostId, request.Version);
        if (release is null)
        {
            throw new BelayException(reason ?? $"no release on channel {manifest.Channel} can be installed on {rid}");
        }
        var others = manifest.Releases
            .Where(r => r.Version != release.Version && r.Artifacts.ContainsKey(rid) && SemVersion.TryParse(r.Version, out _, out _))
            .Select(r => r.Version)
            .OrderByDescending(SemVersion.Parse)
            .ToList();

        // The hub (when asked): enrolled before anything is written, so a refused token changes nothing.
        var hub = await HubInstall.EnrollAsync(request.Hub, layout, hostId, config.SecretScope, _say, cancellationToken).ConfigureAwait(false);
        config.Group = HubInstall.GroupFor(request.Group, existing?.Group, hub, _say) ?? config.Group;

        if (existing is not null && existingState is not null)
        {
            if (identity is not null)
            {
                GroupIdentityFile.Install(identity, layout, config.SecretScope, _say);
            }
            HubInstall.Save(hub, layout, config.SecretScope);
            return await ReinstallAsync(request, layout, existing, existingState, config, release, check, others, cancellationToken).ConfigureAwait(false);
        }
        if (existingState is not null)
        {
            // state.json is there and config.json is not usable: the options given now rewrite it.
            if (identity is not null)
            {
                GroupIdentityFile.Install(identity, layout, config.SecretScope, _say);
            }
            HubInstall.Save(hub, layout, config.SecretScope);
            return await ReinstallAsync(request, layout, null, existingState, config, release, check, others, cancellationToken).ConfigureAwait(false);
        }

        // 3-4. Lay it out; undo everything on failure.
        var created = new List<string>();
        try
        {
            created.AddRange(InstallWriter.CreateFolders(layout));
            if (identity is not null)
            {
                GroupIdentityFile.Install(identity, layout, config.SecretScope, _say);
            }
            var state = InstallState.ForInstall(release.Version, _clock.GetUtcNow());
            state.Bad = [.. knownBad.Where(v => v != release.Version)];
            var files = new InstallFiles(SelfPath(), hostId, new AgentStatus { Sequence = manifest.Sequence, ManifestExpires = manifest.Expires }, config, state)
            {
                Keeper = KeeperBinary.Read(),
            };
            using var bar = TerminalProgress.OnStandardError();
            await InstallWriter.WriteAsync(check.Source, release, rid, layout, files, Say(bar), cancellationToken, bar is null ? null : bar.Report).ConfigureAwait(false);
            HubInstall.Save(hub, layout, config.SecretScope);
        }
        catch
        {
            if (identity is not null)
            {
                File.Delete(layout.GroupIdentityFile);
            }
            File.Delete(layout.ConfigFile);
            File.Delete(layout.StateFile);
            RemoveFolders([.. created, .. missing]);
            throw;
        }
        _say($"installed version {release.Version} for {rid} in {layout.BinRoot} (config {layout.ConfigFile})");
        var permissions = OperatingSystem.IsWindows()
            ? WindowsPermissionChecks.Check(layout, request.Scope == InstallScope.User ? OwnerOnlyScope.User : OwnerOnlyScope.System, new OwnerOnlyAcl(new Belay.Core.IO.Windows.NativeFileSecurity()))
            : PermissionChecks.Check(layout, request.Scope);
        foreach (var problem in permissions.Where(f => !f.Ok))
        {
            _say($"warning: {problem.Detail}{(problem.Fix is { } fix ? $" (fix: {fix})" : "")}");
        }

        // 5. Register with the service manager (and start). If that fails, or the agent never gets
        //    ready, nothing is left registered or running and the files go too: a host is either
        //    installed and running, or as it was.
        if (detected is not null)
        {
            _say($"service manager: {manager} ({detected})");
        }
        var backend = ServiceBackends.Create(manager, layout, _say);
        var definition = ServiceDefinition.For(layout, request.Scope);
        void Undo()
        {
            try
            {
                backend.Uninstall(definition);
            }
            catch (BelayException)
            {
            }
            if (!OperatingSystem.IsWindows())
            {
                new DetachedKeeper(layout, _ => { }).Stop(definition);
            }
            File.Delete(layout.ConfigFile);
            File.Delete(layout.StateFile);
            if (identity is not null)
            {
                File.Delete(layout.GroupIdentityFile);
            }
            RemoveFolders([.. created, .. missing]);
        }
        // Registering and waiting for the first ready run side by side: a service manager that waits for
        // readiness itself (systemd, Type=notify) would otherwise keep install waiting out its own start
        // timeout for an agent that crashes at once, which the keeper's count of exits tells in seconds.
        using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var registering = Task.Run(() => backend.Install(definition, start: !request.NoStart), CancellationToken.None);
        var ready = request.NoStart ? null : WaitReadyAsync(layout, request.ReadyTimeout, giveUp.Token);
        try
        {
            if (ready is not null && await Task.WhenAny(registering, ready).ConfigureAwait(false) == ready && ready.IsFaulted)
            {
                await ready.ConfigureAwait(false); // the agent failed first: the catch below undoes (which ends the registering too)
            }
            await registering.ConfigureAwait(false);
        }
        catch (BelayException e) when (e is not AgentNotReadyException)
        {
            await giveUp.CancelAsync().ConfigureAwait(false);
            _say($"registering with {manager} failed; undoing the install");
            var tail = LogTail(layout, manager, request.Scope);
            Undo();
            throw new BelayException(e.ExitCode, e.Message + "\nNothing was installed." + tail, e);
        }
        catch (AgentNotReadyException e)
        {
            var tail = LogTail(layout, manager, request.Scope);
            Undo();
            await Quietly(registering).ConfigureAwait(false);
            throw new BelayException(
                $"{e.Message}. The install is undone: nothing of it runs or stays installed. {Suggest(manifest.Channel, others)}{tail}", e);
        }
        SayRegistered(backend, layout, definition);
        if (ready is null)
        {
            _say(manager == "none"
                ? $"not started (--no-start); start the keeper with: {layout.BelayExe} run --config {layout.ConfigFile} --detach --log {layout.KeeperLog} &"
                : $"not started (--no-start); {manager} starts it at boot, or now with: belay service start{ScopeArgs(request)}");
            return ExitCodes.Ok;
        }
        try
        {
            return await ready.ConfigureAwait(false);
        }
        catch (AgentNotReadyException e)
        {
            var tail = LogTail(layout, manager, request.Scope);
            Undo();
            throw new BelayException(
                $"{e.Message}. The install is undone: nothing of it runs or stays installed. {Suggest(manifest.Channel, others)}{tail}", e);
        }
    }

    /// <summary>Waits for a task whose outcome no longer matters (a registration the undo just ended).</summary>
    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (BelayException)
        {
        }
    }

    /// <summary>The existing installation's config and state, either null when missing or (the state) rebuilt when damaged.</summary>
    private (InstallConfig? Config, InstallState? State) ReadExisting(InstallLayout layout)
    {
        // Without config.json there is no installation (an uninstall that kept the state, or none yet): a fresh
        // install, which reads only the bad versions of a state left behind.
        if (!File.Exists(layout.StateFile) || !File.Exists(layout.ConfigFile))
        {
            return (null, null);
        }
        InstallConfig? config = null;
        try
        {
            config = InstallConfig.Load(layout.ConfigFile);
        }
        catch (JsonFileException e)
        {
            _say($"warning: {e.File}: {(e.Field is null ? "" : $"field {e.Field}: ")}{e.Problem}; rewriting it from the options given now");
        }
        InstallState state;
        try
        {
            state = InstallStateStore.Load(layout.StateFile);
        }
        catch (JsonFileException e)
        {
            _say($"warning: {e.File}: {(e.Field is null ? "" : $"field {e.Field}: ")}{e.Problem}; rebuilding it");
            _say(InstallFileChecks.RepairState(layout, _clock.GetUtcNow()));
            state = InstallStateStore.Load(layout.StateFile);
        }
        return (config, state);
    }

    private static string Suggest(string channel, IReadOnlyList<string> others) =>
        others.Count == 0
            ? $"Channel {channel} has no other release for {RuntimeInformation.RuntimeIdentifier}: ask its publisher for a fix."
            : $"Install another release with --version {others[0]}{(others.Count > 1 ? $" (channel {channel} also has {string.Join(", ", others.Skip(1).Take(4))}{(others.Count > 5 ? ", ..." : "")})" : "")}, or ask the publisher for a fix.";

    private static string LogTail(InstallLayout layout, string? manager = null, InstallScope scope = InstallScope.System)
    {
        try
        {
            return File.Exists(layout.KeeperLog)
                ? $"\nLast lines of {layout.KeeperLog}:\n  {string.Join("\n  ", File.ReadLines(layout.KeeperLog).TakeLast(8))}"
                : manager == "systemd"
                    ? $"\nThe keeper's and the agent's output is in the journal: journalctl{(scope == InstallScope.User ? " --user" : "")} -u {SystemdUnit.UnitName}"
                    : "";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static void RemoveFolders(IEnumerable<string> folders)
    {
        foreach (var dir in folders.Distinct(StringComparer.Ordinal).OrderByDescending(d => d.Length))
        {
            try
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    private static bool IsInside(string path, string folder) =>
        Path.GetFullPath(path).StartsWith(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)) + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    /// <summary>Says a line, erasing a progress bar first so that the line starts clean.</summary>
    private Action<string> Say(TerminalProgress? bar) => bar is null ? _say : line =>
    {
        bar.Dispose();
        _say(line);
    };

    private void SayRegistered(IServiceBackend backend, InstallLayout layout, ServiceDefinition definition)
    {
        if (backend.Name == "none")
        {
            return;
        }
        var file = ServiceManagers.Render(backend.Name, definition);
        _say($"registered the keeper with {backend.Name}{(file is { } f ? $" ({f.Path})" : "")}; it starts at boot{(definition.Scope == InstallScope.User && backend.Name == "systemd" ? " (for a user unit: at login, or at boot with loginctl enable-linger)" : "")}");
    }

    private static string ScopeArgs(InstallRequest request) =>
        (request.Scope == InstallScope.User ? " --scope user" : "") + (request.Prefix is { } p ? $" --prefix {p}" : "");

    private async Task<int> ReinstallAsync(InstallRequest request, InstallLayout layout, InstallConfig? existing, InstallState state, InstallConfig config,
        ReleaseEntry release, FeedCheck check, IReadOnlyList<string> others, CancellationToken cancellationToken)
    {
        var sameOptions = existing is not null && SameOptions(existing, config);
        var sameVersion = request.Version is null || request.Version == state.Current;
        var definition = ServiceDefinition.For(layout, request.Scope);
        var backend = ServiceBackends.Create(config.ServiceManager, layout, _say);
        var running = KeeperIsRunning(layout);
        if (sameOptions && sameVersion)
        {
            _say($"Belay {state.Current} is already installed in {layout.BinRoot} with these options; nothing to do");
            if (!running && !request.NoStart)
            {
                backend.Install(definition, start: true);
                return await WaitReadyOrSayAsync(request, layout, check, others, cancellationToken).ConfigureAwait(false);
            }
            return ExitCodes.Ok;
        }
        if (!sameOptions)
        {
            if (existing is not null && existing.ServiceManager != config.ServiceManager)
            {
                // Moving to another manager: the old one lets go first, so that one keeper runs.
                var old = ServiceBackends.Create(existing.ServiceManager, layout, _say);
                if (old.Uninstall(definition))
                {
                    _say($"removed the keeper's {old.Name} registration (now {config.ServiceManager})");
                }
            }
            else if (running)
            {
                backend.Stop(definition);
            }
            InstallWriter.CreateFolders(layout);
            CopySelf(layout.BelayExe);
            if (KeeperBinary.Read() is { } keeper)
            {
                AtomicFile.WriteAllBytes(layout.KeeperExe, keeper, (UnixFileMode)0b111_101_101);
            }
            if (existing is not null && existing.Paths.Link != config.Paths.Link && PathLink.Remove(existing.Paths.Link, layout.BelayExe, _say))
            {
                _say($"removed the link {existing.Paths.Link}");
            }
            config.Save(layout.ConfigFile);
            _say($"updated {layout.ConfigFile}");
            DetachedKeeper.WaitGone(layout, TimeSpan.FromSeconds(15));
        }
        if (!sameVersion && release.Version != state.Current)
        {
            using var bar = TerminalProgress.OnStandardError();
            await Stager.StageAsync(check.Source, release, RuntimeInformation.RuntimeIdentifier, layout, Say(bar), cancellationToken, bar is null ? null : bar.Report).ConfigureAwait(false);
            if (KeeperIsRunning(layout))
            {
                var reply = await KeeperChannel.SendAsync(layout.KeeperSocket, $"SWITCH {release.Version}", TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
                _say($"asked the keeper to switch to {release.Version}: {reply}");
            }
            else
            {
                // No keeper to run a trial: the switch happens as a trial at its next start.
                InstallWriter.ScheduleTrial(layout, state, release.Version, config.MaxTries, _clock.GetUtcNow());
                _say($"version {release.Version} staged; the keeper will try it when it starts");
            }
        }
        if (KeeperIsRunning(layout))
        {
            return ExitCodes.Ok;
        }
        backend.Install(definition, start: !request.NoStart);
        SayRegistered(backend, layout, definition);
        if (request.NoStart)
        {
            return ExitCodes.Ok;
        }
        return await WaitReadyOrSayAsync(request, layout, check, others, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A re-install's wait: on failure the installation stays as it is (it was installed before), and the message says so.</summary>
    private async Task<int> WaitReadyOrSayAsync(InstallRequest request, InstallLayout layout, FeedCheck check, IReadOnlyList<string> others,
        CancellationToken cancellationToken)
    {
        try
        {
            return await WaitReadyAsync(layout, request.ReadyTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (AgentNotReadyException e)
        {
            throw new BelayException(
                $"{e.Message}. The installation stays as it is and its keeper keeps trying, with a growing delay (belay status shows it). " +
                $"{Suggest(check.Manifest?.Channel ?? request.Channel, others)}{LogTail(layout)}", e);
        }
    }

    private static List<string> LoadBadVersions(InstallLayout layout)
    {
        try
        {
            return File.Exists(layout.StateFile) ? InstallStateStore.Load(layout.StateFile).Bad : [];
        }
        catch (BelayException)
        {
            return []; // an unreadable leftover is replaced by the new install
        }
    }

    /// <summary>First of all checks: a system-wide install without root stops before reading anything.</summary>
    public static void CheckPrivileges(InstallScope scope)
    {
        if (scope == InstallScope.System && !OperatingSystem.IsWindows() && !Posix.IsRoot)
        {
            throw new BelayException(ExitCodes.NeedsPrivileges,
                "a system-wide install needs root: run it with sudo, or install for this user with --scope user");
        }
    }

    private static bool SameOptions(InstallConfig a, InstallConfig b) =>
        a.Feeds.SequenceEqual(b.Feeds) && a.Channel == b.Channel && a.Group == b.Group && a.RootKeys.SequenceEqual(b.RootKeys) && a.PinnedVersion == b.PinnedVersion &&
        a.PollInterval == b.PollInterval && a.TrialDeadline == b.TrialDeadline && a.AllowInsecureHttp == b.AllowInsecureHttp &&
        a.ServiceManager == b.ServiceManager && a.Paths.Link == b.Paths.Link;

    /// <summary>
    /// Waits until the keeper (started by the service manager, or detached) reports the agent ready. Gives up
    /// early, with an <see cref="AgentNotReadyException"/> saying how, when the agent keeps exiting (three exits
    /// in a row, each soon after its start); at the timeout, says whether the keeper runs and the agent hangs.
    /// </summary>
    public async Task<int> WaitReadyAsync(InstallLayout layout, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = _clock.GetUtcNow() + timeout;
        KeeperStatus? last = null;
        while (_clock.GetUtcNow() < deadline)
        {
            // A STATUS on the keeper's socket costs next to nothing: asking often keeps the one-liner's
            // wait close to the moment the agent is ready (it was 200 ms, 100 ms lost on average).
            await Task.Delay(TimeSpan.FromMilliseconds(25), cancellationToken).ConfigureAwait(false);
            if (!KeeperChannel.Exists(layout.KeeperSocket))
            {
                continue;
            }
            try
            {
                var reply = await KeeperChannel.SendAsync(layout.KeeperSocket, "STATUS", TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                last = JsonSerializer.Deserialize(reply, KeeperJsonContext.Default.KeeperStatus) ?? last;
            }
            catch (Exception e) when (e is BelayException or JsonException)
            {
                continue;
            }
            if (last is { AgentReady: true })
            {
                var state = InstallStateStore.Load(layout.StateFile);
                _say($"agent {state.Current} is running and ready (keeper pid {ReadPid(layout.KeeperPidFile)}); see belay status");
                return ExitCodes.Ok;
            }
            if (last is { AgentExits: >= GiveUpAfterExits } failing)
            {
                throw new AgentNotReadyException(failing.Starting ?? "?",
                    $"version {failing.Starting} does not run on this host: its agent {DescribeExit(failing.LastExitCode)} {Times(failing.AgentExits)} in a row without reporting ready");
            }
        }
        var version = last?.Starting ?? TryCurrent(layout) ?? "?";
        throw new AgentNotReadyException(version, !KeeperIsRunning(layout)
            ? $"the keeper did not start, or stopped, so version {version} never ran (see {layout.KeeperLog})"
            : last?.AgentPid is { } pid
                ? $"version {version} did not report ready within {timeout.TotalSeconds:0} s: its agent (pid {pid}) runs but hangs, or cannot reach the feed or the keeper"
                : $"version {version} did not report ready within {timeout.TotalSeconds:0} s: its agent is not running{(last?.LastExitCode is { } code ? $" (it {DescribeExit(code)})" : "")}");
    }

    /// <summary>Exits in a row after which the install stops waiting for a ready that will not come.</summary>
    private const int GiveUpAfterExits = 3;

    private static string? TryCurrent(InstallLayout layout)
    {
        try
        {
            return InstallStateStore.Load(layout.StateFile).Current;
        }
        catch (BelayException)
        {
            return null;
        }
    }

    /// <summary>"exited with code 1", "was killed by signal 11", "could not be run (exit 127: not found)".</summary>
    public static string DescribeExit(int? code) => code switch
    {
        null => "exited",
        127 => "could not be started (exit 127: not found)",
        126 => "could not be run (exit 126: not executable)",
        > 128 and < 160 => $"was killed by signal {code - 128}",
        _ => $"exited with code {code}",
    };

    private static string Times(int n) => n switch
    {
        1 => "once",
        2 => "twice",
        3 => "three times",
        4 => "four times",
        5 => "five times",
        _ => $"{n} times",
    };

    public static bool KeeperIsRunning(InstallLayout layout) => DetachedKeeper.IsRunning(layout);

    public static int? ReadPid(string path) => DetachedKeeper.ReadPid(path);

    private static string SelfPath() => Environment.ProcessPath ?? throw new BelayException("cannot tell where this belay executable is");

    private static void CopySelf(string destination)
    {
        var self = SelfPath();
        if (Path.GetFullPath(self) == Path.GetFullPath(destination))
        {
            return;
        }
        AtomicFile.Copy(self, destination, (UnixFileMode)0b111_101_101);
    }

    /// <summary>A feed folder given relative to here must still be found by the keeper, which runs elsewhere.</summary>
    private static string AbsoluteFeed(string feed) => feed.Contains("://", StringComparison.Ordinal) ? feed : Path.GetFullPath(feed);

}

/// <summary>The agent of the version just installed or started never reported ready: which version, and how it failed.</summary>
internal sealed class AgentNotReadyException(string version, string message) : BelayException(message)
{
    public string Version { get; } = version;
}
