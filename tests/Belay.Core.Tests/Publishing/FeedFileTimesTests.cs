using Belay.Core.Publishing;
using Belay.TestSupport;

namespace Belay.Core.Tests.Publishing;

/// <summary>
/// Feed files get modification times that make mtime-based validators (nginx's ETag, ASP.NET
/// Core's static files) change with their content: core/Publishing/FeedFileTimes.cs.
/// </summary>
public sealed class FeedFileTimesTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static DateTime At(string time) => DateTime.SpecifyKind(DateTime.Parse("2026-12-06T" + time, System.Globalization.CultureInfo.InvariantCulture), DateTimeKind.Utc);

    private static long Second(DateTime t) => t.Ticks / TimeSpan.TicksPerSecond;

    [Fact]
    public void AReplacementIsAWholeSecondLaterWhenNowIsNotPastTheOldSecond()
    {
        Assert.Equal(At("12:00:01"), FeedFileTimes.Replacing(At("12:00:00.300"), At("12:00:00.900")));
        Assert.Equal(At("12:00:01"), FeedFileTimes.Replacing(At("12:00:00.300"), At("12:00:00.100")));
        Assert.Equal(At("12:00:07"), FeedFileTimes.Replacing(At("12:00:06"), At("12:00:00"))); // an old file from the future: still later
        Assert.Equal(At("12:00:05.250"), FeedFileTimes.Replacing(At("12:00:00.300"), At("12:00:05.250")));
        Assert.Equal(At("12:00:01"), FeedFileTimes.Replacing(At("12:00:00"), At("12:00:01")));
    }

    [Fact]
    public void APublishedDocumentReplacingOneOfTheSameSecondGetsTheNextSecond()
    {
        var path = _dir.Combine("groups", "web.json");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "{\"sequence\":41}");
        // The document an agent took in this second (or one whose clock is ahead): same size, next sequence.
        var taken = DateTime.UtcNow.AddSeconds(30);
        File.SetLastWriteTimeUtc(path, taken);

        FeedFiles.Instance.WriteAtomically(path, "{\"sequence\":42}"u8);

        Assert.Equal("{\"sequence\":42}", File.ReadAllText(path));
        Assert.True(Second(File.GetLastWriteTimeUtc(path)) > Second(taken), $"{File.GetLastWriteTimeUtc(path):O} is not a second after {taken:O}: nginx would send the same ETag");
    }

    [Fact]
    public void ANewDocumentIsWrittenNow()
    {
        var path = _dir.Combine("new.json");
        var before = DateTime.UtcNow.AddSeconds(-1);
        FeedFiles.Instance.WriteAtomically(path, "{}"u8);
        Assert.InRange(File.GetLastWriteTimeUtc(path), before, DateTime.UtcNow.AddSeconds(1));
    }
}
