using Belay.Core.Feed;
using Belay.Core.Minisign;
using Belay.Core.Versioning;

namespace Belay.Core.Publishing;

/// <summary>One release as `belay-release list` shows it.</summary>
public sealed record ListedRelease(string Version, DateTimeOffset Published, int RolloutPercent, DateTimeOffset? Yanked, IReadOnlyList<string> Rids);

/// <summary>A channel as `belay-release list` shows it: its manifest's sequence and expiry, and its releases, oldest first.</summary>
public sealed record ListedChannel(string Channel, long Sequence, DateTimeOffset Expires, IReadOnlyList<ListedRelease> Releases);

public sealed partial class FeedPublisher
{
    /// <summary>
    /// Withdraws a release (<paramref name="undo"/>: puts it back): the manifest is rewritten
    /// with the release marked <c>yanked</c> (a timestamp) and its rollout at 0 %, sequence + 1,
    /// re-signed, nothing else changed. Hosts that have not taken it never will (agents that
    /// predate <c>yanked</c> are held off by the 0 %); hosts that run it are not moved off it and
    /// take the next newer release as usual. Its files stay: hosts and caches may hold them, and
    /// a yanked version is never republished with other bytes. Undo clears the mark and leaves
    /// the rollout at 0 %: `rollout` opens it again.
    /// </summary>
    public ChannelManifest Yank(string feedDirectory, string channel, string version, MinisignSecretKey key, bool undo = false, TimeSpan? expiresIn = null)
    {
        var (path, previous) = LoadForChange(feedDirectory, channel, key);
        var release = Find(previous, version, channel);
        if (!undo && release.Yanked is not null)
        {
            throw new BelayException($"version {version} on channel {channel} was already yanked on {release.Yanked:u}; nothing to do");
        }
        if (undo && release.Yanked is null)
        {
            throw new BelayException($"version {version} on channel {channel} is not yanked; nothing to undo");
        }
        var now = Truncate(_clock.GetUtcNow());
        var manifest = Rewrite(previous, version, r =>
        {
            r.Yanked = undo ? null : now;
            if (!undo)
            {
                r.Rollout = new Rollout { Percent = 0 };
            }
        }, now, expiresIn);
        WriteManifest(path, manifest, key);
        _log(undo
            ? $"wrote {FeedLayout.ChannelFile(channel)} (sequence {manifest.Sequence}): version {version} is no longer yanked; its rollout stays at 0% until belay-release rollout {version} --percent N"
            : $"wrote {FeedLayout.ChannelFile(channel)} (sequence {manifest.Sequence}): version {version} is yanked (rollout 0%); hosts that have not taken it never will, hosts on it keep it until a newer release");
        return manifest;
    }

    /// <summary>
    /// Sets an existing release's rollout percent (0 to 100): the manifest is rewritten with
    /// sequence + 1 and re-signed. Raising it admits more hosts (the same ones stay admitted);
    /// lowering it stops hosts not yet on it from taking it, and moves no host off it.
    /// </summary>
    public ChannelManifest SetRollout(string feedDirectory, string channel, string version, int percent, MinisignSecretKey key, TimeSpan? expiresIn = null)
    {
        if (percent is < 0 or > 100)
        {
            throw new BelayException(ExitCodes.Usage, $"rollout {percent} is not a percentage from 0 to 100");
        }
        var (path, previous) = LoadForChange(feedDirectory, channel, key);
        var release = Find(previous, version, channel);
        if (release.Yanked is { } yanked)
        {
            throw new BelayException($"version {version} was yanked on {yanked:u}; put it back first with belay-release yank {version} --undo");
        }
        var before = release.Rollout?.Percent ?? 0;
        var now = Truncate(_clock.GetUtcNow());
        var manifest = Rewrite(previous, version, r => r.Rollout = new Rollout { Percent = percent }, now, expiresIn);
        WriteManifest(path, manifest, key);
        _log($"wrote {FeedLayout.ChannelFile(channel)} (sequence {manifest.Sequence}): version {version} rolled out to {percent}% (was {before}%)");
        return manifest;
    }

    /// <summary>What the channels of a feed folder hold (every channel, or those named), read and checked against the feed's own root.</summary>
    public IReadOnlyList<ListedChannel> List(string feedDirectory, IReadOnlyList<string>? channels = null)
    {
        var feed = Path.GetFullPath(feedDirectory);
        var root = LoadRoot(feed, now: null);
        var names = channels is { Count: > 0 } given ? given : ChannelsIn(feed);
        var listed = new List<ListedChannel>();
        foreach (var channel in names)
        {
            CheckChannelName(channel);
            var path = Path.Combine(feed, FeedLayout.ChannelFile(channel));
            var manifest = LoadManifest(path, root, channel)
                ?? throw new BelayException($"channel {channel} has no manifest ({path}); publish a release to it first");
            listed.Add(new ListedChannel(manifest.Channel, manifest.Sequence, manifest.Expires, [.. manifest.Releases
                .OrderBy(r => SemVersion.TryParse(r.Version, out var v, out _) ? v : null)
                .Select(r => new ListedRelease(r.Version, r.Published, r.Rollout?.Percent ?? 0, r.Yanked,
                    [.. (r.Artifacts ?? []).Keys.Order(StringComparer.Ordinal)]))]));
        }
        return listed;
    }

    private static List<string> ChannelsIn(string feed)
    {
        var dir = Path.Combine(feed, "channels");
        var found = Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir, "*.json").Select(Path.GetFileNameWithoutExtension).OfType<string>().Where(FeedLayout.IsValidChannel).Order(StringComparer.Ordinal).ToList()
            : [];
        return found.Count > 0 ? found : throw new BelayException($"the feed {feed} has no channels yet; publish a release with belay-release publish");
    }

    private static void CheckChannelName(string channel)
    {
        if (!FeedLayout.IsValidChannel(channel))
        {
            throw new BelayException(ExitCodes.Usage, $"'{channel}' is not a channel name: use lower-case letters, digits, '-', '_' and '.'");
        }
    }

    /// <summary>Everything a change of an existing channel checks before it writes: the root, the release key, the manifest.</summary>
    private (string Path, ChannelManifest Manifest) LoadForChange(string feedDirectory, string channel, MinisignSecretKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        CheckChannelName(channel);
        var feed = Path.GetFullPath(feedDirectory);
        var root = LoadRoot(feed, _clock.GetUtcNow());
        CheckReleaseKey(root, key);
        var path = Path.Combine(feed, FeedLayout.ChannelFile(channel));
        var manifest = LoadManifest(path, root, channel)
            ?? throw new BelayException($"channel {channel} has no manifest yet ({path}); publish a release to it first");
        EnsureWritable(Path.GetDirectoryName(path)!);
        return (path, manifest);
    }

    private static ReleaseEntry Find(ChannelManifest manifest, string version, string channel)
    {
        if (!SemVersion.TryParse(version, out _, out var error))
        {
            throw new BelayException(ExitCodes.Usage, error);
        }
        return manifest.Releases.FirstOrDefault(r => r.Version == version)
            ?? throw new BelayException($"version {version} is not on channel {channel} (it has: {(manifest.Releases.Count == 0 ? "none" : string.Join(", ", manifest.Releases.Select(r => r.Version)))})");
    }

    /// <summary>The same manifest with one release changed, sequence + 1 and a new expiry; the previous one is not touched.</summary>
    private static ChannelManifest Rewrite(ChannelManifest previous, string version, Action<ReleaseEntry> change, DateTimeOffset now, TimeSpan? expiresIn)
    {
        var copy = FeedJson.ParseManifest(FeedJson.Serialize(previous), "the manifest being changed");
        change(copy.Releases.First(r => r.Version == version));
        copy.Sequence = previous.Sequence + 1;
        copy.Expires = Truncate(now + (expiresIn ?? DefaultManifestLifetime));
        return copy;
    }
}
