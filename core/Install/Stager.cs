using Belay.Core.Archives;
using Belay.Core.Feed;
using Belay.Core.IO;

namespace Belay.Core.Install;

/// <summary>
/// Lays out a release: download the artifact for this RID (capped at its signed size,
/// SHA-256 checked), extract it defensively into a private folder, and rename that folder
/// to versions/&lt;version&gt;. A version folder therefore exists complete and verified, or
/// not at all; a crash at any point leaves at most a temporary file or folder, which the
/// next staging removes.
/// </summary>
public static class Stager
{
    /// <summary>Stages <paramref name="release"/> unless it is already there; returns the agent executable's path.</summary>
    /// <exception cref="BelayException">The release cannot be staged: a trust failure (3), the feed (4), or the disk (1, naming the
    /// folder and the space left when it is full). Callers hold the <see cref="InstallLock"/>.</exception>
    /// <param name="progress">Told the bytes downloaded so far and the artifact's size (a progress bar on a terminal).</param>
    public static async Task<string> StageAsync(FeedSource source, ReleaseEntry release, string rid, InstallLayout layout, Action<string> log,
        CancellationToken cancellationToken, Action<long, long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        try
        {
            return await StageLockedAsync(source, release, rid, layout, log, progress, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException($"cannot stage version {release?.Version}: {IOErrors.DescribeWrite(e, IOErrors.PathIn(e) ?? layout.VersionsDir)}", e);
        }
    }

    private static async Task<string> StageLockedAsync(FeedSource source, ReleaseEntry release, string rid, InstallLayout layout, Action<string> log,
        Action<long, long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(release);
        ArgumentNullException.ThrowIfNull(log);
        // Nothing is written, or taken as staged, through a link someone planted in the installation (LayoutGuard).
        LayoutGuard.Check(layout);
        var agent = layout.AgentExe(release.Version);
        if (File.Exists(agent))
        {
            return agent;
        }
        if (!release.Artifacts.TryGetValue(rid, out var artifact))
        {
            throw new BelayException($"version {release.Version} has no artifact for {rid} (it has: {string.Join(", ", release.Artifacts.Keys.Order(StringComparer.Ordinal))})");
        }
        // Mix and match: the signed entry must name this product's archive of this version for
        // this RID, so that a manifest can never point one RID (or version) at another's file.
        var expected = FeedLayout.AgentArchive(release.Version, rid);
        if (artifact.Path != expected)
        {
            throw BelayException.Trust($"version {release.Version} for {rid} points at {artifact.Path}, not {expected}; refusing an artifact of another version, RID or product");
        }
        // The compact form when the release has one: the same tar in about a quarter fewer bytes (docs/feed.md).
        // It is bound by its own signed path, hash and size, checked as strictly as the archive's.
        var compact = artifact.Compact;
        if (compact is not null)
        {
            var expectedCompact = FeedLayout.AgentCompactArchive(release.Version, rid);
            if (compact.Path != expectedCompact)
            {
                throw BelayException.Trust($"version {release.Version} for {rid} names {compact.Path} as its compact archive, not {expectedCompact ?? "none (this RID has no compact form)"}; refusing an artifact of another version, RID or product");
            }
        }
        AtomicFile.CreateDirectoryDurably(layout.DownloadsDir);
        AtomicFile.CreateDirectoryDurably(layout.VersionsDir);
        RemoveLeftovers(layout);
        var versionDir = layout.VersionDir(release.Version);
        if (Directory.Exists(versionDir))
        {
            // A folder without its agent is not something we made: never run it, rebuild it.
            log($"{versionDir} exists without {Path.GetFileName(agent)}; replacing it");
            Durability.DeleteDirectory(versionDir);
        }
        string download;
        var extension = FeedLayout.ArchiveExtension(rid);
        if (compact is not null)
        {
            try
            {
                download = await DownloadAsync(source, compact, layout, log, progress, cancellationToken).ConfigureAwait(false);
                extension = Archives.CompactArchive.ExtensionFor(rid)!;
                artifact = compact;
            }
            catch (BelayException e) when (e.ExitCode == ExitCodes.FeedUnreachable)
            {
                // A feed copied without its .br files (a partial sync, an upload filter on *.tar.gz) still installs and
                // updates: the .tar.gz is bound on its own. A compact file that is there but wrong is a trust failure, as ever.
                log($"the compact archive could not be downloaded ({e.Message}); downloading the .tar.gz instead");
                download = await DownloadAsync(source, artifact, layout, log, progress, cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            download = await DownloadAsync(source, artifact, layout, log, progress, cancellationToken).ConfigureAwait(false);
        }
        Durability.Reach(CrashPoint.StageDownloaded);
        try
        {
            var archive = download + extension;
            Durability.MoveFile(download, archive);
            download = archive;
            // A refusal names what the user knows: the URL and version, not the private temporary file.
            // An agent's tar (about 10 MB) is kept in memory between the checking and the writing pass, so it is
            // decompressed once (the process that stages it is about to hand over to the new version anyway).
            ArchiveExtractor.Extract(archive, versionDir, ExtractionLimits.Default with { MaxReplayBytes = AgentReplayBytes },
                displayName: $"{source.Describe(artifact.Path)} (version {release.Version} for {rid})");
        }
        finally
        {
            Durability.DeleteFile(download);
        }
        if (!File.Exists(agent))
        {
            Durability.DeleteDirectory(versionDir);
            throw BelayException.Trust($"the archive of version {release.Version} for {rid} has no {Path.GetFileName(agent)}; refusing it");
        }
        Durability.Reach(CrashPoint.StageRenamed);
        log($"staged version {release.Version} in {versionDir} (sha256 {artifact.Sha256} verified)");
        return agent;
    }

    /// <summary>The largest agent tar the extraction keeps in memory between its two passes.</summary>
    private const int AgentReplayBytes = 24 * 1024 * 1024;

    private static async Task<string> DownloadAsync(FeedSource source, ArtifactEntry artifact, InstallLayout layout, Action<string> log,
        Action<long, long>? progress, CancellationToken cancellationToken)
    {
        log($"downloading {source.Describe(artifact.Path)} ({artifact.Size} bytes)");
        return await ArtifactDownloader.DownloadAsync(source, artifact, layout.DownloadsDir, cancellationToken,
            progress is null ? null : bytes => progress(bytes, artifact.Size)).ConfigureAwait(false);
    }

    /// <summary>Removes what an interrupted download or extraction left behind.</summary>
    public static void RemoveLeftovers(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (Directory.Exists(layout.DownloadsDir))
        {
            foreach (var file in Directory.EnumerateFiles(layout.DownloadsDir))
            {
                Durability.DeleteFile(file);
            }
        }
        if (Directory.Exists(layout.VersionsDir))
        {
            foreach (var dir in Directory.EnumerateDirectories(layout.VersionsDir, ".*"))
            {
                Durability.DeleteDirectory(dir);
            }
        }
    }
}
