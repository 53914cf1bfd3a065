using System.Globalization;
using System.Text;
using Belay.Core.Archives;
using Belay.Core.IO;

namespace Belay.Core.Deploy;

/// <summary>
/// Carries out the effect of one deploy step (<see cref="RunStep"/>) and says how it went; the
/// deploy machine decides everything else. Every effect can be started again from its
/// beginning, because an agent that restarted may do so: a fetch clears what an earlier one
/// left, unpack is a rename that is skipped once done, exec adopts a process that already runs
/// the release, the health gate starts over, restore stops whatever runs and starts the
/// previous release unless it already runs.
/// </summary>
public sealed class DeployStepRunner
{
    private readonly AppPaths _paths;
    private readonly string _group;
    private readonly IAppProcess _process;
    private readonly IHookRunner _hooks;
    private readonly IArtifactSource _artifacts;
    private readonly ISecretResolver _secrets;
    private readonly IDeployLog _log;
    private readonly HealthGate _health;
    private readonly TimeProvider _clock;

    public DeployStepRunner(AppPaths paths, string group, IAppProcess process, IHookRunner hooks, IArtifactSource artifacts, ISecretResolver secrets,
        IDeployLog log, TimeProvider clock)
    {
        _paths = paths;
        _group = group;
        _process = process;
        _hooks = hooks;
        _artifacts = artifacts;
        _secrets = secrets;
        _log = log;
        _clock = clock;
        _health = new HealthGate(process, hooks, clock);
    }

    /// <summary>How long exec waits beyond start_timeout for the process to come up before it counts as failed.</summary>
    public TimeSpan ExecGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Runs <paramref name="step"/> of <paramref name="d"/> for <paramref name="app"/>; throws only when cancelled.</summary>
    public async Task<StepOutcome> RunAsync(string app, DeployStep step, DeployRecord d, CancellationToken cancellationToken)
    {
        var started = _clock.GetUtcNow();
        StepOutcome outcome;
        try
        {
            outcome = step switch
            {
                DeployStep.Precheck => Precheck(app, d),
                DeployStep.Fetch => await FetchAsync(app, d, cancellationToken).ConfigureAwait(false),
                DeployStep.PreInstall => await HookAsync(app, d, New(app, d, incoming: true), HookKind.PreInstall, cancellationToken).ConfigureAwait(false),
                DeployStep.Unpack => Unpack(app, d),
                DeployStep.PostInstall => await HookAsync(app, d, New(app, d), HookKind.PostInstall, cancellationToken).ConfigureAwait(false),
                DeployStep.Stop => await StopAsync(app, d, cancellationToken).ConfigureAwait(false),
                DeployStep.PreStart => await HookAsync(app, d, New(app, d), HookKind.PreStart, cancellationToken).ConfigureAwait(false),
                DeployStep.Exec => await ExecAsync(app, New(app, d), cancellationToken).ConfigureAwait(false),
                DeployStep.PostStart => await HookAsync(app, d, New(app, d), HookKind.PostStart, cancellationToken).ConfigureAwait(false),
                DeployStep.Health => await HealthAsync(app, d, cancellationToken).ConfigureAwait(false),
                DeployStep.Restore => await RestoreAsync(app, d, cancellationToken).ConfigureAwait(false),
                DeployStep.Uninstall => await HookAsync(app, d, New(app, d), HookKind.Uninstall, cancellationToken).ConfigureAwait(false),
                DeployStep.Remove => await RemoveAsync(app, cancellationToken).ConfigureAwait(false),
                _ => StepOutcome.Failed($"{LifecycleNames.Of(step)} is not a step the runner carries out"),
            };
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (AppConfigException e)
        {
            outcome = StepOutcome.Failed(e.Message, permanent: true);
        }
        catch (SecretException e)
        {
            outcome = StepOutcome.Failed(e.Message, permanent: true);
        }
        catch (BelayException e)
        {
            outcome = StepOutcome.Failed(e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            outcome = StepOutcome.Failed(e.Message);
        }
        return outcome with { Duration = _clock.GetUtcNow() - started };
    }

    /// <summary>The release the deploy installs, read from its folder (or the private one before unpack).</summary>
    private ResolvedRelease New(string app, DeployRecord d, bool incoming = false)
    {
        var release = _paths.Release(app, d.Version);
        var dir = incoming && !Directory.Exists(release) ? _paths.Incoming(app, d.Version) : release;
        return ResolvedRelease.Load(app, d.Version, dir, d.Settings, _group, _secrets);
    }

    /// <summary>The release installed when the deploy began, or null when none was.</summary>
    private ResolvedRelease? From(string app, DeployRecord d) =>
        d.From is { } from ? Lenient(app, from, d.FromSettings ?? AppSettings.Empty) : null;

    /// <summary>
    /// An installed release for stopping or restoring it: a secret that no longer decrypts (the
    /// identity changed) must not keep the old release from being stopped or started again, so
    /// it is left out of the environment, with a warning.
    /// </summary>
    private ResolvedRelease Lenient(string app, string version, AppSettings settings)
    {
        var dir = _paths.Release(app, version);
        try
        {
            return ResolvedRelease.Load(app, version, dir, settings, _group, _secrets);
        }
        catch (SecretException e)
        {
            _log.Write(app, $"{e.Message}; going on without the secrets of {version}", true);
            return ResolvedRelease.Load(app, version, dir, settings with { Env = [.. settings.Env.Where(x => !x.IsSecret)] }, _group, NoSecrets.Instance);
        }
    }

    private StepOutcome Precheck(string app, DeployRecord d)
    {
        var notes = new StringBuilder();
        // The environment must resolve before anything is fetched: a secret that does not decrypt fails this app only, and at once.
        _ = _secrets.Resolve(app, d.Settings);
        if (d.Settings.User is { } user && !OperatingSystem.IsWindows() && PosixProcess.LookUpUser(user) is null)
        {
            return StepOutcome.Failed($"the group document runs {app} as user '{user}', which this host does not have", permanent: true);
        }
        if (d.Settings.User is { } account && OperatingSystem.IsWindows() && !Programs.Windows.ProgramLogon.IsServiceAccount(account))
        {
            // An app has no password file: the service can start it as another account only where none is needed.
            return StepOutcome.Failed($"the group document runs {app} as user '{account}': on Windows an app runs as another account only when that needs no password (LocalService, NetworkService); remove user or name one of those", permanent: true);
        }
        if (d.Kind != DeployKind.Install || Directory.Exists(_paths.Release(app, d.Version)))
        {
            return StepOutcome.Done;
        }
        if (d.Artifact is not { } artifact)
        {
            return StepOutcome.Failed($"the group document has no archive of {app} {d.Version} for this host (nor an 'any' one)", permanent: true);
        }
        AtomicFile.CreateDirectoryDurably(_paths.ReleasesRoot);
        // The archive, and its release at the extractor's worst ratio is not plausible; twice the archive plus a margin is.
        DiskSpace.Require(_paths.ReleasesRoot, (2 * artifact.Size) + AppArtifactFetcher.FreeSpaceMargin,
            $"{app} {d.Version} (its {artifact.Size}-byte archive and the release unpacked from it)");
        notes.Append(CultureInfo.InvariantCulture, $"precheck: {artifact.Size} bytes to fetch for {artifact.Rid}\n");
        return new StepOutcome { Output = notes.ToString() };
    }

    private async Task<StepOutcome> FetchAsync(string app, DeployRecord d, CancellationToken cancellationToken)
    {
        if (Directory.Exists(_paths.Release(app, d.Version)))
        {
            return new StepOutcome { Output = $"fetch: {d.Version} is already unpacked\n" };
        }
        if (d.Artifact is not { } artifact)
        {
            return StepOutcome.Failed($"the group document has no archive of {app} {d.Version} for this host", permanent: true);
        }
        AtomicFile.CreateDirectoryDurably(_paths.Releases(app));
        AtomicFile.CreateDirectoryDurably(_paths.Downloads, ReleaseFolders.OwnerOnlyDirectory);
        ReleaseFolders.RemovePrivate(_paths, app);
        var archive = await _artifacts.FetchAsync(app, d.Version, artifact, _paths.Downloads, cancellationToken).ConfigureAwait(false);
        var incoming = _paths.Incoming(app, d.Version);
        try
        {
            try
            {
                ArchiveExtractor.Extract(archive, incoming, displayName: $"{artifact.Path} ({app} {d.Version})", extracted: CrashPoint.DeployExtracted);
            }
            catch (BelayException e) when (e.ExitCode == ExitCodes.TrustFailure)
            {
                // A hostile or broken archive is that version's defect: waiting will not mend it.
                return StepOutcome.Failed(e.Message, permanent: true);
            }
        }
        finally
        {
            Durability.DeleteFile(archive);
        }
        var config = AppConfig.Load(incoming);
        if (config.CheckRelease(incoming) is { Count: > 0 } problems)
        {
            return StepOutcome.Failed($"the release is incomplete: {string.Join("; ", problems)}", permanent: true);
        }
        return new StepOutcome { Output = $"fetch: {artifact.Path} ({artifact.Size} bytes, sha256 {artifact.Sha256[..12]}…) verified and extracted\n" };
    }

    private StepOutcome Unpack(string app, DeployRecord d)
    {
        var release = _paths.Release(app, d.Version);
        if (Directory.Exists(release))
        {
            return StepOutcome.Done;
        }
        var incoming = _paths.Incoming(app, d.Version);
        if (!Directory.Exists(incoming))
        {
            return StepOutcome.Failed($"the extracted copy of {d.Version} ({incoming}) is gone; fetching it again");
        }
        Durability.MoveDirectory(incoming, release);
        AtomicFile.FlushDirectory(_paths.Releases(app));
        Durability.Reach(CrashPoint.DeployUnpacked);
        return new StepOutcome { Output = $"unpack: {release}\n" };
    }

    private async Task<StepOutcome> HookAsync(string app, DeployRecord d, ResolvedRelease release, HookKind kind, CancellationToken cancellationToken)
    {
        if (release.Config.Hook(kind) is not { } hook)
        {
            return StepOutcome.Done;
        }
        var result = await RunHookAsync(release.Hook(hook, d.From, d.Version), cancellationToken).ConfigureAwait(false);
        return result.Succeeded
            ? new StepOutcome { ExitCode = 0, Output = result.Output }
            : StepOutcome.Failed(Describe(hook.Key, result), result.ExitCode, result.Output);
    }

    /// <summary>Runs a hook with its pid recorded (so that a restarted agent can end a hook it left behind).</summary>
    private async Task<HookResult> RunHookAsync(HookRun run, CancellationToken cancellationToken)
    {
        var record = _paths.HookRecord(run.App);
        try
        {
            return await _hooks.RunAsync(run, (pid, start) => HookRecords.Save(record, pid, start), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            HookRecords.Delete(record);
        }
    }

    private static string Describe(string key, HookResult result) =>
        result.Error is { } error ? $"{key}: {error}"
        : result.TimedOut ? $"{key} did not finish within {Seconds(result.Duration)}; {(OperatingSystem.IsWindows() ? "its job was terminated" : "its process group was killed")}"
        : $"{key} exited with code {result.ExitCode}";

    /// <summary>Stops the installed release: its pre_stop (a failure is logged, never blocks), the stop signal and SIGKILL after stop_timeout, its post_stop.</summary>
    private async Task<StepOutcome> StopAsync(string app, DeployRecord d, CancellationToken cancellationToken)
    {
        if (From(app, d) is not { } old)
        {
            return StepOutcome.Done;
        }
        var output = new StringBuilder();
        await BestEffortHookAsync(old, HookKind.PreStop, d, output, cancellationToken).ConfigureAwait(false);
        await _process.ApplyAsync(old.Definition(), run: false).WaitAsync(cancellationToken).ConfigureAwait(false);
        output.Append(CultureInfo.InvariantCulture, $"stop: {app} {old.Version} stopped\n");
        await BestEffortHookAsync(old, HookKind.PostStop, d, output, cancellationToken).ConfigureAwait(false);
        return new StepOutcome { Output = OutputTail.Keep(output.ToString()) };
    }

    private async Task BestEffortHookAsync(ResolvedRelease release, HookKind kind, DeployRecord d, StringBuilder output, CancellationToken cancellationToken)
    {
        if (release.Config.Hook(kind) is not { } hook)
        {
            return;
        }
        var result = await RunHookAsync(release.Hook(hook, d.From, d.Version), cancellationToken).ConfigureAwait(false);
        output.Append(result.Output);
        if (!result.Succeeded)
        {
            var message = $"{Describe(hook.Key, result)} ({release.App} {release.Version}); going on";
            output.Append(message).Append('\n');
            _log.Write(release.App, message, true);
        }
    }

    private async Task<StepOutcome> ExecAsync(string app, ResolvedRelease release, CancellationToken cancellationToken)
    {
        var definition = release.Definition();
        await _process.ApplyAsync(definition, run: true).WaitAsync(cancellationToken).ConfigureAwait(false);
        var deadline = _clock.GetUtcNow() + release.Config.StartTimeout + ExecGrace;
        int? pid = null;
        while (true)
        {
            var info = await _process.StatusAsync(app).ConfigureAwait(false);
            var status = info?.Status;
            if (status is { State: "running" } && info!.Identity == definition.Hash && (pid is null || status.Pid == pid))
            {
                return new StepOutcome { ExitCode = 0, Output = $"exec: {string.Join(' ', definition.Command)} (pid {status.Pid}) is up\n" };
            }
            if (status is null || info!.Identity != definition.Hash || status.State is not ("starting" or "running") || (pid is not null && status.Pid != pid))
            {
                var exit = status?.LastExit ?? "not started";
                return StepOutcome.Failed($"exec: {app} {release.Version} did not stay up for start_timeout ({Seconds(release.Config.StartTimeout)}): {exit}",
                    ExitCodeOf(exit), AppOutput(app));
            }
            pid ??= status.Pid;
            if (_clock.GetUtcNow() >= deadline)
            {
                return StepOutcome.Failed($"exec: {app} {release.Version} was not up within {Seconds(release.Config.StartTimeout + ExecGrace)}", null, AppOutput(app));
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100), _clock, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<StepOutcome> HealthAsync(string app, DeployRecord d, CancellationToken cancellationToken)
    {
        var release = New(app, d);
        // After a restart the supervisor holds the adopted process under a stand-in: give it its
        // definition (the same identity: the process is left alone) before the gate watches it.
        // Only while it runs: one that exited is the gate's failure to report, not to restart.
        var definition = release.Definition();
        var info = await _process.StatusAsync(app).ConfigureAwait(false);
        if (info is { Status.State: "starting" or "running" } && info.Identity == definition.Hash)
        {
            await _process.ApplyAsync(definition, run: true).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        return await _health.RunAsync(release, d.From, m => _log.Write(app, m, false), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>"exit 3" → 3, "signal 9" → 137 (as a shell shows it), anything else null.</summary>
    internal static int? ExitCodeOf(string exit)
    {
        var parts = exit.Split(' ', 3);
        if (parts.Length >= 2 && int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var n))
        {
            return parts[0] switch
            {
                "exit" => n,
                "signal" => 128 + n,
                _ => null,
            };
        }
        return null;
    }

    /// <summary>The last lines the app wrote (its stdout log, then its stderr log), for a report.</summary>
    private string AppOutput(string app)
    {
        var text = new StringBuilder();
        foreach (var (file, label) in new[] { (_paths.Log(app), "stdout"), (_paths.ErrLog(app), "stderr") })
        {
            if (Tail(file, 2048) is { Length: > 0 } tail)
            {
                text.Append(CultureInfo.InvariantCulture, $"--- {app} {label} (last lines) ---\n").Append(tail);
                if (!tail.EndsWith('\n'))
                {
                    text.Append('\n');
                }
            }
        }
        return OutputTail.Keep(text.ToString());
    }

    private static string Tail(string path, int bytes)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var start = Math.Max(0, stream.Length - bytes);
            stream.Position = start;
            var buffer = new byte[stream.Length - start];
            stream.ReadExactly(buffer);
            return Encoding.UTF8.GetString(buffer);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>
    /// After a failure from the stop on: stop the new release if it runs (with its stop hooks when it
    /// got as far as running them would make sense), then start the release the deploy began from as
    /// it ran (its pre_start and post_start best effort, no health gate: it was healthy before).
    /// </summary>
    private async Task<StepOutcome> RestoreAsync(string app, DeployRecord d, CancellationToken cancellationToken)
    {
        var output = new StringBuilder();
        var failure = d.Failure?.Step ?? DeployStep.Restore;
        var old = d.Kind == DeployKind.Start || !d.FromRunning ? null : From(app, d);
        var oldDefinition = old?.Definition();
        var info = await _process.StatusAsync(app).ConfigureAwait(false);
        if (oldDefinition is not null && info is { Status.State: "starting" or "running" } && info.Identity == oldDefinition.Hash)
        {
            // It never stopped (the stop was cut off before its signal): keep it, under its own definition.
            await _process.ApplyAsync(oldDefinition, run: true).WaitAsync(cancellationToken).ConfigureAwait(false);
            output.Append(CultureInfo.InvariantCulture, $"restore: {app} {old!.Version} is running\n");
            return new StepOutcome { Output = output.ToString() };
        }
        if (info is { Status.Pid: > 0 })
        {
            ResolvedRelease? failed = null;
            try
            {
                failed = Directory.Exists(_paths.Release(app, d.Version)) ? Lenient(app, d.Version, d.Settings) : null;
            }
            catch (AppConfigException)
            {
            }
            var started = failure is DeployStep.PostStart or DeployStep.Health;
            if (failed is not null && started)
            {
                await BestEffortHookAsync(failed, HookKind.PreStop, d, output, cancellationToken).ConfigureAwait(false);
            }
            if (failed is not null)
            {
                await _process.ApplyAsync(failed.Definition(), run: false).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await _process.RemoveAsync(app).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            output.Append(CultureInfo.InvariantCulture, $"restore: {app} {d.Version} stopped\n");
            if (failed is not null && started)
            {
                await BestEffortHookAsync(failed, HookKind.PostStop, d, output, cancellationToken).ConfigureAwait(false);
            }
        }
        if (old is null)
        {
            if (d.From is null)
            {
                await _process.RemoveAsync(app).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            return new StepOutcome { Output = OutputTail.Keep(output.ToString()) };
        }
        var back = d with { Version = old.Version };
        await BestEffortHookAsync(old, HookKind.PreStart, back, output, cancellationToken).ConfigureAwait(false);
        var exec = await ExecAsync(app, old, cancellationToken).ConfigureAwait(false);
        output.Append(exec.Output);
        if (exec.Reason is { } reason)
        {
            return StepOutcome.Failed(reason, exec.ExitCode, OutputTail.Keep(output.ToString()));
        }
        await BestEffortHookAsync(old, HookKind.PostStart, back, output, cancellationToken).ConfigureAwait(false);
        output.Append(CultureInfo.InvariantCulture, $"restore: {app} {old.Version} is running again\n");
        return new StepOutcome { Output = OutputTail.Keep(output.ToString()) };
    }

    private async Task<StepOutcome> RemoveAsync(string app, CancellationToken cancellationToken)
    {
        await _process.RemoveAsync(app).WaitAsync(cancellationToken).ConfigureAwait(false);
        var releases = _paths.Releases(app);
        if (Directory.Exists(releases))
        {
            Durability.DeleteDirectory(releases);
            AtomicFile.FlushDirectory(_paths.ReleasesRoot);
        }
        return new StepOutcome { Output = $"remove: {releases} deleted\n" };
    }

    internal static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";

    /// <summary>For a release whose secrets no longer decrypt: its plain values only.</summary>
    private sealed class NoSecrets : ISecretResolver
    {
        public static readonly NoSecrets Instance = new();

        public IReadOnlyDictionary<string, string> Resolve(string app, AppSettings settings) =>
            settings.Env.Where(e => !e.IsSecret).ToDictionary(e => e.Name, e => e.Value ?? "", StringComparer.Ordinal);
    }
}
