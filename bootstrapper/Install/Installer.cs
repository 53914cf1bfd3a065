using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Belay.Core;
using Belay.Core.Feed;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Minisign;
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
    TimeSpan ReadyTimeout);

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
        if (request.ServiceManager is not ("none" or "auto"))
        {
            throw new BelayException(ExitCodes.Usage, $"service manager '{request.ServiceManager}' is not available in this build; use --service-manager none");
        }
        if (request.RootKeys.Count == 0)
        {
            throw new BelayException(ExitCodes.Usage, "no root key: this build has none compiled in, so give the feed's root public key with --root-key");
        }
        var layout = InstallLayout.For(request.Scope, request.Prefix);
        var existing = File.Exists(layout.ConfigFile) && File.Exists(layout.StateFile) ? InstallConfig.Load(layout.ConfigFile) : null;
        var existingState = existing is null ? null : InstallStateStore.Load(layout.StateFile);
        var hostId = File.Exists(layout.HostIdFile) ? (await File.ReadAllTextAsync(layout.HostIdFile, cancellationToken).ConfigureAwait(false)).Trim() : NewHostId();
        var rid = RuntimeInformation.RuntimeIdentifier;

        var config = new InstallConfig
        {
            Feeds = [.. request.Feeds.Select(AbsoluteFeed)],
            Channel = request.Channel,
            RootKeys = [.. request.RootKeys.Select(k => k.ToBase64())],
            PinnedVersion = request.Version,
            Scope = request.Scope == InstallScope.System ? "system" : "user",
            ServiceManager = "none",
            PollInterval = request.PollInterval,
            TrialDeadline = request.TrialDeadline,
            AllowInsecureHttp = request.AllowInsecureHttp,
            Paths = ConfigPaths.From(layout),
        };
        config.Validate("the install options");

        // 1-2. Read the feed as the agent will, and choose.
        var watermark = AgentStatus.TryLoad(layout.AgentStatusFile)?.Sequence ?? 0;
        using var client = new FeedClient(config.Feeds, request.RootKeys, config.Product, config.Channel, config.AllowInsecureHttp, _clock);
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

        if (existing is not null && existingState is not null)
        {
            return await ReinstallAsync(request, layout, existing, existingState, config, release, check, cancellationToken).ConfigureAwait(false);
        }

        // 3-4. Lay it out; undo everything on failure.
        var created = new List<string>();
        try
        {
            foreach (var (dir, mode) in new[]
            {
                (layout.BinRoot, Public), (Path.GetDirectoryName(layout.BelayExe)!, Public), (layout.VersionsDir, Public),
                (layout.ConfigDir, Public), (layout.StateDir, Private), (layout.LogDir, Public),
            })
            {
                if (!Directory.Exists(dir))
                {
                    CreateDirectory(dir, mode);
                    created.Add(dir);
                }
            }
            await Stager.StageAsync(check.Source, release, rid, layout, _say, cancellationToken).ConfigureAwait(false);
            CopySelf(layout.BelayExe);
            AtomicFile.WriteAllText(layout.HostIdFile, hostId + "\n");
            new AgentStatus { Sequence = manifest.Sequence, ManifestExpires = manifest.Expires }.Save(layout.AgentStatusFile);
            config.Save(layout.ConfigFile);
            var state = InstallState.ForInstall(release.Version, _clock.GetUtcNow());
            state.Bad = [.. knownBad.Where(v => v != release.Version)];
            InstallStateStore.Save(layout.StateFile, state);
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
        if (request.NoStart)
        {
            _say($"not started (--no-start); start the keeper with: {layout.BelayExe} run --config {layout.ConfigFile}");
            return ExitCodes.Ok;
        }
        return await StartAndWaitAsync(layout, request.ReadyTimeout, cancellationToken).ConfigureAwait(false);
    }

    private async Task<int> ReinstallAsync(InstallRequest request, InstallLayout layout, InstallConfig existing, InstallState state, InstallConfig config,
        ReleaseEntry release, FeedCheck check, CancellationToken cancellationToken)
    {
        var sameOptions = SameOptions(existing, config);
        var sameVersion = request.Version is null || request.Version == state.Current;
        var running = KeeperIsRunning(layout);
        if (sameOptions && sameVersion)
        {
            _say($"Belay {state.Current} is already installed in {layout.BinRoot} with these options; nothing to do");
            if (!running && !request.NoStart)
            {
                return await StartAndWaitAsync(layout, request.ReadyTimeout, cancellationToken).ConfigureAwait(false);
            }
            return ExitCodes.Ok;
        }
        if (!sameOptions)
        {
            CopySelf(layout.BelayExe);
            config.Save(layout.ConfigFile);
            _say($"updated {layout.ConfigFile}");
            if (running)
            {
                await StopKeeperAsync(layout, _say, cancellationToken).ConfigureAwait(false);
            }
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
                var next = state.Clone();
                next.Trial = new TrialState { Version = release.Version, From = state.Current, Tries = 0, MaxTries = config.MaxTries, StartedAt = _clock.GetUtcNow() };
                InstallStateStore.Save(layout.StateFile, next);
                _say($"version {release.Version} staged; the keeper will try it when it starts");
            }
        }
        if (request.NoStart || KeeperIsRunning(layout))
        {
            return ExitCodes.Ok;
        }
        return await StartAndWaitAsync(layout, request.ReadyTimeout, cancellationToken).ConfigureAwait(false);
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

    /// <summary>Starts the keeper detached from this terminal and waits for the agent's readiness.</summary>
    public async Task<int> StartAndWaitAsync(InstallLayout layout, TimeSpan timeout, CancellationToken cancellationToken)
    {
        StartKeeperDetached(layout);
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

    private static void StartKeeperDetached(InstallLayout layout)
    {
        // sh does the redirections and the backgrounding, so the keeper holds none of our
        // descriptors (a `curl | sh` pipeline must not wait for it); the keeper starts its
        // own session (--detach) so the terminal's hang-up does not reach it.
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        foreach (var arg in new[]
        {
            "-c", "exec \"$0\" run --config \"$1\" --detach </dev/null >>\"$2\" 2>&1 &",
            layout.BelayExe, layout.ConfigFile, layout.KeeperLog,
        })
        {
            psi.ArgumentList.Add(arg);
        }
        using var shell = Process.Start(psi) ?? throw new BelayException("could not start /bin/sh to launch the keeper");
        shell.WaitForExit();
        if (shell.ExitCode != 0)
        {
            throw new BelayException($"launching the keeper failed (sh exit {shell.ExitCode})");
        }
    }

    public static bool KeeperIsRunning(InstallLayout layout)
    {
        var pid = ReadPid(layout.KeeperPidFile);
        return pid is { } p && !OperatingSystem.IsWindows() && Posix.IsAlive(p);
    }

    /// <summary>Stops the keeper (SIGTERM; it stops the agent first) and waits for it to go.</summary>
    public static async Task StopKeeperAsync(InstallLayout layout, Action<string> say, CancellationToken cancellationToken)
    {
        if (ReadPid(layout.KeeperPidFile) is not { } pid || OperatingSystem.IsWindows() || !Posix.IsAlive(pid))
        {
            return;
        }
        Posix.SendSignal(pid, Posix.SigTerm);
        for (var i = 0; i < 150 && Posix.IsAlive(pid); i++)
        {
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
        if (Posix.IsAlive(pid))
        {
            Posix.SendSignal(pid, 9);
            say($"keeper (pid {pid}) did not stop within 15 s; killed it");
        }
        else
        {
            say($"stopped the keeper (pid {pid})");
        }
    }

    public static int? ReadPid(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static void CopySelf(string destination)
    {
        var self = Environment.ProcessPath ?? throw new BelayException("cannot tell where this belay executable is");
        if (Path.GetFullPath(self) == Path.GetFullPath(destination))
        {
            return;
        }
        AtomicFile.Copy(self, destination, (UnixFileMode)0b111_101_101);
    }

    /// <summary>A feed folder given relative to here must still be found by the keeper, which runs elsewhere.</summary>
    private static string AbsoluteFeed(string feed) => feed.Contains("://", StringComparison.Ordinal) ? feed : Path.GetFullPath(feed);

    private static string NewHostId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    private const UnixFileMode Public = (UnixFileMode)0b111_101_101;
    private const UnixFileMode Private = (UnixFileMode)0b111_000_000;

    private static void CreateDirectory(string path, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, mode);
        }
    }
}
