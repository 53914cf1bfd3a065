using Belay.Core.Feed;
using Belay.Core.IO;

namespace Belay.Core.Deploy;

/// <summary>An app archive downloaded and verified: the caller owns <see cref="Path"/> (and deletes it when done).</summary>
/// <param name="Path">The verified file, mode 0600, named to end in the archive's extension (.tar.gz or .zip) so that the extractor reads it.</param>
/// <param name="Rid">The archive's RID: the host's own, or <c>any</c>.</param>
/// <param name="Artifact">The signed entry it was checked against.</param>
public sealed record FetchedAppArtifact(string Path, string Rid, ArtifactEntry Artifact);

/// <summary>
/// Fetches one app release's archive for this host and verifies it (docs/deployments.md,
/// "Trust"). The entry point, stable for the agent, is <see cref="FetchAsync"/>:
/// <list type="number">
/// <item>choose the archive: the host's own RID, else <c>any</c> (<see cref="DeployPolicy.ChooseArtifact"/>);</item>
/// <item>check the signed entry again (path exactly apps/&lt;app&gt;/&lt;version&gt;/&lt;app&gt;-&lt;version&gt;-&lt;rid&gt;.*, hash and size well-formed);</item>
/// <item>check the folder's volume has room for the archive plus a margin (<see cref="DiskSpace"/>);</item>
/// <item>download with <see cref="ArtifactDownloader"/>, the agent's own downloader: stopped at the signed size,
/// SHA-256 checked, held to the feed's transfer limits, each mirror in turn, the partial file deleted on any failure.</item>
/// </list>
/// The archive's contents are not looked at here: the caller extracts it with
/// <see cref="Archives.ArchiveExtractor"/>, which refuses path traversal, links and bombs.
/// </summary>
public static class AppArtifactFetcher
{
    /// <summary>Space left free on the volume after the archive, so a deploy never fills a disk to the last byte.</summary>
    public const long FreeSpaceMargin = 64L * 1024 * 1024;

    /// <param name="source">The feed to read (<see cref="GroupPoll.Source"/>: the mirror that answered first, then the others).</param>
    /// <param name="app">The app's name in the group document.</param>
    /// <param name="desired">Its entry in the verified group document.</param>
    /// <param name="hostRid">This host's RID (like linux-x64).</param>
    /// <param name="folder">An existing folder on the volume the release will be unpacked on (say, the agent's downloads folder).</param>
    /// <exception cref="BelayException">
    /// <see cref="ExitCodes.TrustFailure"/> for an archive that does not match its signed size or hash, or an entry that
    /// points at another app's, version's or RID's file; <see cref="ExitCodes.FeedUnreachable"/> when no mirror could
    /// serve it; <see cref="ExitCodes.Error"/> when the app has no archive for this host or the disk is too full.
    /// </exception>
    public static async Task<FetchedAppArtifact> FetchAsync(FeedSource source, string app, DesiredApp desired, string hostRid, string folder,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(desired);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!DeployNames.IsValidApp(app))
        {
            throw BelayException.Trust($"'{app}' is not an app name ({DeployNames.AppRule})");
        }
        if (desired.Version is not { } version || !DeployNames.IsValidVersion(version))
        {
            throw BelayException.Trust($"app {app}: '{desired.Version}' is not a version ({DeployNames.VersionRule})");
        }
        if (DeployPolicy.ChooseArtifact(desired, hostRid) is not var (rid, artifact))
        {
            var has = desired.Artifacts.Count == 0 ? "none" : string.Join(", ", desired.Artifacts.Keys.Order(StringComparer.Ordinal));
            throw new BelayException($"app {app} {version} has no archive for {hostRid} or {FeedLayout.AnyRid} (it has: {has}); publish one with belay-release deploy --artifact {hostRid}=FILE");
        }
        var expected = FeedLayout.AppArchive(app, version, rid);
        if (artifact.Path != expected)
        {
            throw BelayException.Trust($"app {app} {version} for {rid} points at {artifact.Path}, not {expected}; refusing an archive of another app, version or RID");
        }
        DiskSpace.Require(folder, artifact.Size + FreeSpaceMargin, $"the archive of {app} {version} ({artifact.Size} bytes, plus {FreeSpaceMargin / (1024 * 1024)} MiB kept free)");

        var download = await ArtifactDownloader.DownloadAsync(source, artifact, folder, cancellationToken).ConfigureAwait(false);
        try
        {
            var named = download + FeedLayout.ArchiveExtension(rid);
            Durability.MoveFile(download, named);
            return new FetchedAppArtifact(named, rid, artifact);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(download);
            throw new BelayException($"cannot rename {download}: {e.Message}", e);
        }
    }
}
