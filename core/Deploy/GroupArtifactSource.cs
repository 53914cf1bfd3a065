using Belay.Core.Feed;

namespace Belay.Core.Deploy;

/// <summary>
/// <see cref="IArtifactSource"/> over <see cref="AppArtifactFetcher"/>: the archive the group
/// document names for this host, read from the feed (and its mirrors) that last served the
/// verified document.
/// </summary>
public sealed class GroupArtifactSource(Func<FeedSource?> source, string hostRid) : IArtifactSource
{
    public async Task<string> FetchAsync(string app, string version, AppArtifact artifact, string folder, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        var feed = source() ?? throw new BelayException(ExitCodes.FeedUnreachable, $"no feed has served the group document yet; {app} {version} is fetched after the next poll");
        var entry = new DesiredApp { Version = version };
        entry.Artifacts[artifact.Rid] = new ArtifactEntry { Path = artifact.Path, Sha256 = artifact.Sha256, Size = artifact.Size };
        var fetched = await AppArtifactFetcher.FetchAsync(feed, app, entry, hostRid, folder, cancellationToken)
            .ConfigureAwait(false);
        return fetched.Path;
    }
}
