namespace Belay.Core.Publishing;

/// <summary>
/// Modification times of feed files, for the servers in front of them. nginx and Apache derive a
/// file's ETag and Last-Modified from its modification time in whole seconds and its size
/// (<c>belay-release serve</c> and a hub's <c>/feed/</c> send content ETags and need none of this). A
/// document replaced by another of the same size within the same second would keep its
/// validator, and an agent that sends it in If-None-Match would be told 304 for the new one
/// until the next publish: two <c>belay-release deploy</c> runs for one group in one second
/// (two apps deployed back to back) would leave hosts on the first. So a file that replaces
/// another is last modified at least one whole second after it.
/// </summary>
public static class FeedFileTimes
{
    /// <summary>When a file replacing one last modified at <paramref name="previousUtc"/> is last modified: now, or the next whole second after the old one when now is not past it.</summary>
    public static DateTime Replacing(DateTime previousUtc, DateTime nowUtc)
    {
        var floor = new DateTime(previousUtc.Ticks - previousUtc.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
        var next = floor.AddSeconds(1);
        return nowUtc >= next ? nowUtc : next;
    }
}
