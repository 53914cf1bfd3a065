using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Belay.Core.Feed;
using Belay.Core.Versioning;

namespace Belay.Core.Update;

/// <summary>
/// The agent's choices over a verified channel manifest: whether a staged rollout admits
/// this host, which release to update to, which to install first. Pure; the manifest's
/// signature, expiry and sequence are checked before it gets here.
///
/// <para>Precedence: a pin (<c>--version</c>, or a pinned version in the config) wins over
/// everything but the bad list, a yank and the artifact: it is taken even when older than the
/// current version and whatever its rollout percent, because pinning is an operator's
/// explicit choice. Without a pin the newest release wins that is newer than the current
/// one, admitted by its rollout, not bad, not yanked, and built for this host's RID. Releases
/// whose version does not parse are skipped.</para>
/// <para>A yanked release (withdrawn by the publisher) is never moved to, pinned or not; a host
/// that runs it is not moved off it either (nothing older is chosen): it stays until a newer
/// release is admitted. A withdrawn release is a publisher's "do not take this", not a rollback.</para>
/// </summary>
public static class UpdatePolicy
{
    /// <summary>
    /// Whether a rollout at <paramref name="percent"/> admits the host: the first 8 bytes of
    /// SHA-256(UTF-8(hostId + ":" + version)), read as a big-endian unsigned 64-bit integer,
    /// mod 100, is less than percent. So 0 admits nobody and 100 everybody; raising the
    /// percent only ever adds hosts; and each version draws its own sample of hosts, so the
    /// same hosts are not always the first to take a release. Feeds and other clients that
    /// predict admission depend on this formula: it is a contract.
    /// </summary>
    public static bool IsAdmitted(string hostId, string version, int percent)
    {
        ArgumentNullException.ThrowIfNull(hostId);
        ArgumentNullException.ThrowIfNull(version);
        if (percent <= 0)
        {
            return false;
        }
        if (percent >= 100)
        {
            return true;
        }
        return Bucket(hostId, version) < percent;
    }

    /// <summary>The host's bucket for <paramref name="version"/>, 0 to 99 (see <see cref="IsAdmitted"/>).</summary>
    public static int Bucket(string hostId, string version)
    {
        ArgumentNullException.ThrowIfNull(hostId);
        ArgumentNullException.ThrowIfNull(version);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(hostId + ":" + version));
        return (int)(BinaryPrimitives.ReadUInt64BigEndian(hash) % 100);
    }

    /// <summary>
    /// The release to update to, or null to stay on <paramref name="current"/>: exactly
    /// <paramref name="pinned"/> when set (even if older; null if it is current, bad, missing
    /// or not built for <paramref name="rid"/>), else the newest release newer than current,
    /// admitted, not bad, with an artifact for the RID.
    /// </summary>
    public static ReleaseEntry? ChooseUpdate(ChannelManifest manifest, string rid, string hostId, string current,
        IReadOnlyCollection<string> bad, string? pinned)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(rid);
        ArgumentNullException.ThrowIfNull(hostId);
        ArgumentNullException.ThrowIfNull(bad);
        if (!SemVersion.TryParse(current, out var currentVersion, out var error))
        {
            throw new ArgumentException($"the current version is invalid: {error}", nameof(current));
        }
        bool IsBad(string v) => bad.Contains(v, StringComparer.Ordinal);

        if (pinned is not null)
        {
            if (string.Equals(pinned, current, StringComparison.Ordinal) || IsBad(pinned))
            {
                return null;
            }
            var release = Releases(manifest).FirstOrDefault(r => string.Equals(r.Version, pinned, StringComparison.Ordinal));
            return release is not null && HasArtifact(release, rid) && release.Yanked is null ? release : null;
        }

        return Newest(Releases(manifest)
            .Where(r => HasArtifact(r, rid) && !IsBad(r.Version) && r.Yanked is null && IsAdmitted(hostId, r.Version, r.Rollout?.Percent ?? 0)),
            v => v > currentVersion);
    }

    /// <summary>
    /// The release a first install takes: exactly <paramref name="pinned"/> when set (whatever
    /// its rollout), else the newest admitted release with an artifact for <paramref name="rid"/>.
    /// When there is none, the reason says why, in words for the operator.
    /// </summary>
    public static (ReleaseEntry? Release, string? Reason) ChooseInstall(ChannelManifest manifest, string rid, string hostId, string? pinned)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(rid);
        ArgumentNullException.ThrowIfNull(hostId);
        var releases = Releases(manifest).Where(r => SemVersion.TryParse(r.Version, out _, out _)).ToList();
        var channel = string.IsNullOrEmpty(manifest.Channel) ? "the channel" : $"channel {manifest.Channel}";
        if (releases.Count == 0)
        {
            return (null, $"{channel} has no releases");
        }

        if (pinned is not null)
        {
            var release = releases.FirstOrDefault(r => string.Equals(r.Version, pinned, StringComparison.Ordinal));
            if (release is null)
            {
                return (null, $"version {pinned} is not on {channel} (available: {string.Join(", ", Versions(releases))})");
            }
            if (release.Yanked is { } yanked)
            {
                return (null, $"version {pinned} was withdrawn (yanked) by the publisher on {yanked:u}; choose another (available: {string.Join(", ", Versions(releases.Where(r => r.Yanked is null)))})");
            }
            return HasArtifact(release, rid)
                ? (release, null)
                : (null, $"version {pinned} has no artifact for {rid} (available: {string.Join(", ", Rids([release]))})");
        }

        releases = [.. releases.Where(r => r.Yanked is null)];
        if (releases.Count == 0)
        {
            return (null, $"every release on {channel} was withdrawn (yanked) by the publisher");
        }
        var built = releases.Where(r => HasArtifact(r, rid)).ToList();
        if (built.Count == 0)
        {
            return (null, $"no release has an artifact for {rid} (available: {string.Join(", ", Rids(releases))})");
        }
        var chosen = Newest(built.Where(r => IsAdmitted(hostId, r.Version, r.Rollout?.Percent ?? 0)), _ => true);
        if (chosen is null)
        {
            var newest = Newest(built, _ => true)!;
            return (null, $"no release for {rid} admits this host yet (the newest, {newest.Version}, is rolled out to " +
                $"{newest.Rollout?.Percent ?? 0}%); pin a version with --version to install anyway");
        }
        return (chosen, null);
    }

    private static IEnumerable<ReleaseEntry> Releases(ChannelManifest manifest) =>
        (manifest.Releases ?? []).Where(r => r is not null && r.Version is not null);

    private static bool HasArtifact(ReleaseEntry release, string rid) =>
        release.Artifacts is { } artifacts && artifacts.ContainsKey(rid);

    /// <summary>The newest release whose version parses and passes <paramref name="filter"/>.</summary>
    private static ReleaseEntry? Newest(IEnumerable<ReleaseEntry> releases, Func<SemVersion, bool> filter)
    {
        ReleaseEntry? best = null;
        SemVersion? bestVersion = null;
        foreach (var r in releases)
        {
            if (SemVersion.TryParse(r.Version, out var v, out _) && filter(v) && (bestVersion is null || v > bestVersion))
            {
                best = r;
                bestVersion = v;
            }
        }
        return best;
    }

    private static IEnumerable<string> Versions(IEnumerable<ReleaseEntry> releases) =>
        releases.Select(r => SemVersion.Parse(r.Version)).OrderDescending().Select(v => v.Text);

    private static List<string> Rids(IEnumerable<ReleaseEntry> releases)
    {
        var rids = releases.SelectMany(r => r.Artifacts?.Keys ?? Enumerable.Empty<string>())
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        return rids.Count == 0 ? ["none"] : rids;
    }
}
