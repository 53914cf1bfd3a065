using Belay.Core.Feed;

namespace Belay.Core.Tests.Feed;

public sealed class FeedLayoutTests
{
    [Theory]
    [InlineData("agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.gz", true)]
    [InlineData("root.json", true)]
    [InlineData("../etc/passwd", false)]
    [InlineData("agent/../../x", false)]
    [InlineData("/etc/passwd", false)]
    [InlineData("agent//x", false)]
    [InlineData("agent/./x", false)]
    [InlineData("C:/x", false)]
    [InlineData("agent\\x", false)]
    [InlineData("", false)]
    [InlineData("a\nb", false)]
    public void OnlyPlainRelativePathsInsideTheFeedAreSafe(string path, bool safe)
    {
        Assert.Equal(safe, FeedLayout.IsSafeRelativePath(path));
    }

    [Theory]
    [InlineData("linux-x64", true)]
    [InlineData("linux-musl-arm64", true)]
    [InlineData("win-x64", true)]
    [InlineData("osx-arm64", true)]
    [InlineData("illumos-x64", true)]
    [InlineData("linux", false)]
    [InlineData("Linux-x64", false)]
    [InlineData("linux-x64/..", false)]
    public void RuntimeIdentifiersAreCheckedBeforeTheyBecomePaths(string rid, bool valid)
    {
        Assert.Equal(valid, FeedLayout.IsValidRid(rid));
    }

    [Fact]
    public void WindowsArtifactsAreZipsAndTheRestTarballs()
    {
        Assert.Equal("agent/1.2.0/belay-agent-1.2.0-win-x64.zip", FeedLayout.AgentArchive("1.2.0", "win-x64"));
        Assert.Equal("agent/1.2.0/belay-agent-1.2.0-linux-arm64.tar.gz", FeedLayout.AgentArchive("1.2.0", "linux-arm64"));
        Assert.Equal("bootstrap/1.2.0/belay-win-x64.exe", FeedLayout.BootstrapBinary("1.2.0", "win-x64"));
    }

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("45m", 45 * 60)]
    [InlineData("12h", 12 * 3600)]
    [InlineData("30d", 30 * 86400)]
    [InlineData("2w", 14 * 86400)]
    public void DurationsReadTheUnitsOperatorsType(string text, int seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), Durations.Parse(text));
    }

    [Theory]
    [InlineData("30")]
    [InlineData("d")]
    [InlineData("-1d")]
    [InlineData("1y")]
    [InlineData("0d")]
    public void BadDurationsAreAUsageError(string text)
    {
        var e = Assert.Throws<BelayException>(() => Durations.Parse(text));
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
    }
}
