using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Belay.Core;
using Belay.Core.Feed;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Minisign;
using Belay.Core.Services;
using Belay.Core.Update;

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
    HubRequest? Hub = null);

/// <summary>
/// `belay install`, in this order, so that a failure at any step leaves nothing half-made:
/// <list type="number">
/// <item>check privileges, the transport and the root keys; read and verify root.json and the channel;</item>
/// <item>choose the version (pinned, or the newest this host is admitted to) with an artifact for this RID;</item>
/// <item>stage it: download (capped at the signed size, SHA-256 checked), extract defensively, rename into versions/&lt;v&gt;;</item>
/// <item>copy belay itself to bin/, write the host id, agent.json and config.json (0600), and state.json last:
///   state.json existing is what "installed" means;</item>
/// <item>start the keeper and wait until the agent reports ready.</item>
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
        CheckPrivileges(request.Scope);
        if (request.RootKeys.Count == 0)
        {
            throw new BelayException(ExitCodes.Usage, "no root key: this build has none compiled in, so give the feed's root public key with --root-key");
        }
        var layout = InstallLayout.For(request.Scope, request.Prefix);
        var existing = File.Exists(layout.ConfigFile) && File.Exists(layout.StateFile) ? InstallConfig.Load(layout.ConfigFile) : null;
        var existingState = existing is null ? null : InstallStateStore.Load(layout.StateFile);
        // Re-running install without --service-manager keeps the installation's manager; auto detects for a new one.
        var manager = request.ServiceManager == "auto" && existing is not null
            ? existing.ServiceManager
            : ServiceBackends.Resolve(request.ServiceManager, request.Scope, _say);
        var hostId = File.Exists(layout.HostIdFile) ? (await File.ReadAllTextAsync(layout.HostIdFile, cancellationToken).ConfigureAwait(false)).Trim() : NewHostId();
        var rid = RuntimeInformation.RuntimeIdentifier;

        var config = new InstallConfig
        {
            Feeds = [.. request.Feeds.Select(AbsoluteFeed)],
            Channel = request.Channel,
            RootKeys = [.. request.RootKeys.Select(k => k.ToBase64())],
            PinnedVersion = request.Version,
            Scope = request.Scope == InstallScope.System ? "system" : "user",
            ServiceManager = manager,
            PollInterval = request.PollInterval,
            TrialDeadline = request.TrialDeadline,
            AllowInsecureHttp = request.AllowInsecureHttp,
            Paths = ConfigPaths.From(layout),
        };
        config.Validate("the install options");

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

        // The hub (when asked): enrolled before anything is written, so a refused token changes nothing.
        var hub = await HubInstall.EnrollAsync(request.Hub, layout, hostId, config.SecretScope, _say, cancellationToken).ConfigureAwait(false);

        if (existing is not null && existingState is not null)
        {
            HubInstall.Save(hub, layout, config.SecretScope);
            return await ReinstallAsync(request, layout, existing, existingState, config, release, check, cancellationToken).ConfigureAwait(false);
        }

        // 3-4. Lay it out; undo everything on failure.
        var created = new List<string>();
        try
        {
            created.AddRange(InstallWriter.CreateFolders(layout));
            var state = InstallState.ForInstall(release.Version, _clock.GetUtcNow());
            state.Bad = [.. knownBad.Where(v => v != release.Version)];
            var files = new InstallFiles(SelfPath(), hostId, new AgentStatus { Sequence = manifest.Sequence, ManifestExpires = manifest.Expires }, config, state);
            await InstallWriter.WriteAsync(check.Source, release, rid, layout, files, _say, cancellationToken).ConfigureAwait(false);
            HubInstall.Save(hub, layout, config.SecretScope);
        }
        catch
        {
            foreach (var dir in Enumerable.Reverse(created))
            {
                try
                {
                    Directory.Delete(dir, recursive: true);
                }
                catch (IOException)
                {
                }
            }
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

        // 5. Register with the service manager (and start). If that fails, nothing is left
        //    registered and the files go too: a host is either installed or as it was.
        var backend = ServiceBackends.Create(manager, layout, _say);
        var definition = ServiceDefinition.For(layout, request.Scope);
        try
        {
            backend.Install(definition, start: !request.NoStart);
        }
        catch (BelayException e)
        {
            _say($"registering with {manager} failed; undoing the install");
            try
            {
                backend.Uninstall(definition);
            }
            catch (BelayException)
            {
            }
            File.Delete(layout.ConfigFile);
            File.Delete(layout.StateFile);
            foreach (var dir in Enumerable.Reverse(created))
            {
                try
                {
                    Directory.Delete(dir, recursive: true);
                }
                catch (IOException)
                {
                }
            }
            throw new BelayException(e.ExitCode, e.Message + "\nNothing was installed.", e);
        }
        SayRegistered(backend, layout, definition);
        if (request.NoStart)
        {
            _say(manager == "none"
                ? $"not started (--no-start); start the keeper with: {layout.BelayExe} run --config {layout.ConfigFile} --detach --log {layout.KeeperLog} &"
                : $"not started (--no-start); {manager} starts it at boot, or now with: belay service start{ScopeArgs(request)}");
            return ExitCodes.Ok;
        }
        return await WaitReadyAsync(layout, request.ReadyTimeout, cancellationToken).ConfigureAwait(false);
    }

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

    private async Task<int> ReinstallAsync(InstallRequest request, InstallLayout layout, InstallConfig existing, InstallState state, InstallConfig config,
        ReleaseEntry release, FeedCheck check, CancellationToken cancellationToken)
    {
        var sameOptions = SameOptions(existing, config);
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
                return await WaitReadyAsync(layout, request.ReadyTimeout, cancellationToken).ConfigureAwait(false);
            }
            return ExitCodes.Ok;
        }
        if (!sameOptions)
        {
            if (existing.ServiceManager != config.ServiceManager)
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
            CopySelf(layout.BelayExe);
            config.Save(layout.ConfigFile);
            _say($"updated {layout.ConfigFile}");
            DetachedKeeper.WaitGone(layout, TimeSpan.FromSeconds(15));
        }
        if (!sameVersion && release.Version != state.Current)
        {
            await Stager.StageAsync(check.Source, release, RuntimeInformation.RuntimeIdentifier, layout, _say, cancellationToken).ConfigureAwait(false);
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
        return await WaitReadyAsync(layout, request.ReadyTimeout, cancellationToken).ConfigureAwait(false);
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
        a.Feeds.SequenceEqual(b.Feeds) && a.Channel == b.Channel && a.RootKeys.SequenceEqual(b.RootKeys) && a.PinnedVersion == b.PinnedVersion &&
        a.PollInterval == b.PollInterval && a.TrialDeadline == b.TrialDeadline && a.AllowInsecureHttp == b.AllowInsecureHttp &&
        a.ServiceManager == b.ServiceManager;

    /// <summary>Waits until the keeper (started by the service manager, or detached) reports the agent ready.</summary>
    public async Task<int> WaitReadyAsync(InstallLayout layout, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = _clock.GetUtcNow() + timeout;
        string? last = null;
        while (_clock.GetUtcNow() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
            if (!File.Exists(layout.KeeperSocket))
            {
                continue;
            }
            try
            {
                last = await KeeperChannel.SendAsync(layout.KeeperSocket, "STATUS", TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                if (last.Contains("\"agentReady\":true", StringComparison.Ordinal))
                {
                    var state = InstallStateStore.Load(layout.StateFile);
                    _say($"agent {state.Current} is running and ready (keeper pid {ReadPid(layout.KeeperPidFile)}); see belay status");
                    return ExitCodes.Ok;
                }
            }
            catch (BelayException)
            {
            }
        }
        var tail = File.Exists(layout.KeeperLog) ? string.Join("\n  ", File.ReadLines(layout.KeeperLog).TakeLast(15)) : "(no log)";
        throw new BelayException($"the agent did not report ready within {timeout.TotalSeconds:0} s (keeper said: {last ?? "nothing"}). Last lines of {layout.KeeperLog}:\n  {tail}");
    }

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

    private static string NewHostId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
}
