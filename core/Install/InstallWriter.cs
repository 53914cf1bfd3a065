using Belay.Core.Feed;
using Belay.Core.IO;
using Belay.Core.Update;

namespace Belay.Core.Install;

/// <summary>What a first install writes besides the staged version.</summary>
/// <param name="Bootstrapper">The belay executable to copy to bin/, or null when it already runs from there.</param>
public sealed record InstallFiles(string? Bootstrapper, string HostId, AgentStatus Status, InstallConfig Config, InstallState State)
{
    /// <summary>bin/belay-keeper's bytes (what `belay run` execs on Unix), or null where there is none (Windows).</summary>
    public byte[]? Keeper { get; init; }
}

/// <summary>
/// The persisted steps of `belay install`, in the order that makes a crash harmless: the
/// folders (each flushed into its parent), the version staged, bin/belay and bin/belay-keeper, the host id,
/// agent.json, config.json, and state.json last, because state.json existing is what
/// "installed" means: a crash before it leaves a host that is not installed yet and that
/// a second install completes; a crash after it, a host that runs. Each step reaches its
/// <see cref="CrashPoint"/> once its write is on disk.
/// </summary>
public static class InstallWriter
{
    private const UnixFileMode Public = (UnixFileMode)0b111_101_101;
    private const UnixFileMode Private = (UnixFileMode)0b111_000_000;

    /// <summary>Creates the installation's folders that are missing (state 0700, the rest 0755), durably; returns those it created.</summary>
    public static IReadOnlyList<string> CreateFolders(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var created = new List<string>();
        foreach (var (dir, mode) in new[]
        {
            (layout.BinRoot, Public), (Path.GetDirectoryName(layout.BelayExe)!, Public), (layout.VersionsDir, Public),
            (layout.ConfigDir, Public), (layout.StateDir, Private), (layout.LogDir, Public),
        })
        {
            try
            {
                if (AtomicFile.CreateDirectoryDurably(dir, mode).Count > 0)
                {
                    created.Add(dir);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // What was made so far is the caller's to undo (it gets the list only on success): undo it here.
                foreach (var made in Enumerable.Reverse(created))
                {
                    try
                    {
                        Directory.Delete(made, recursive: true);
                    }
                    catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
                    {
                    }
                }
                throw e is UnauthorizedAccessException
                    ? new BelayException(ExitCodes.NeedsPrivileges,
                        $"cannot create {dir}: {SystemErrors.Describe(e)}; choose a --prefix you may write to, or run it with sudo", e)
                    : new BelayException($"cannot create {dir}: {SystemErrors.Describe(e)}{(File.Exists(dir) ? " (a file is in the way)" : "")}", e);
            }
        }
        return created;
    }

    /// <summary>Stages <paramref name="release"/> and writes the rest of a first install, state.json last.</summary>
    public static async Task WriteAsync(FeedSource source, ReleaseEntry release, string rid, InstallLayout layout, InstallFiles files,
        Action<string> log, CancellationToken cancellationToken, Action<long, long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(files);
        await Stager.StageAsync(source, release, rid, layout, log, cancellationToken, progress).ConfigureAwait(false);
        if (files.Bootstrapper is { } self && Path.GetFullPath(self) != Path.GetFullPath(layout.BelayExe))
        {
            AtomicFile.Copy(self, layout.BelayExe, Public);
        }
        if (files.Keeper is { } keeper)
        {
            AtomicFile.WriteAllBytes(layout.KeeperExe, keeper, Public);
        }
        Durability.Reach(CrashPoint.InstallBootstrapperCopied);
        AtomicFile.WriteAllText(layout.HostIdFile, files.HostId + "\n");
        Durability.Reach(CrashPoint.InstallHostIdWritten);
        files.Status.Save(layout.AgentStatusFile);
        Durability.Reach(CrashPoint.InstallAgentStatusWritten);
        files.Config.Save(layout.ConfigFile);
        Durability.Reach(CrashPoint.InstallConfigWritten);
        InstallStateStore.Save(layout.StateFile, files.State);
        Durability.Reach(CrashPoint.InstallStateWritten);
    }

    /// <summary>
    /// An install of another (already staged) version while no keeper runs: persists a trial
    /// of it with no try used yet, which the keeper counts and starts when it boots.
    /// </summary>
    public static InstallState ScheduleTrial(InstallLayout layout, InstallState state, string version, int maxTries, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(state);
        var next = state.Clone();
        next.Trial = new TrialState { Version = version, From = state.Current, Tries = 0, MaxTries = maxTries, StartedAt = now };
        InstallStateStore.Save(layout.StateFile, next);
        Durability.Reach(CrashPoint.ReinstallTrialPersisted);
        return next;
    }
}
