using Belay.Core.Serving;

namespace Belay.Core.Tests.Serving;

public sealed class ConditionalsTests
{
    private const string ETag = "\"abc123\"";

    private static readonly DateTimeOffset Modified = new(2026, 11, 26, 10, 0, 0, 500, TimeSpan.Zero);

    [Theory]
    [InlineData("\"abc123\"", true)]
    [InlineData("W/\"abc123\"", true)]
    [InlineData("\"x\", \"abc123\"", true)]
    [InlineData("\"x\",W/\"abc123\"  ,\"y\"", true)]
    [InlineData("\"a,b\", \"abc123\"", true)]
    [InlineData("*", true)]
    [InlineData(" * ", true)]
    [InlineData("\"abc\"", false)]
    [InlineData("\"ABC123\"", false)]
    [InlineData("abc123", false)]
    [InlineData("\"abc123", false)]
    [InlineData("\"x\" \"abc123\"", false)]
    [InlineData("\"x\", *", false)]
    [InlineData("w/\"abc123\"", false)]
    [InlineData("", false)]
    public void If_None_Match_matches_by_weak_comparison(string field, bool matches)
    {
        Assert.Equal(matches, Conditionals.NoneMatchFails([field], ETag));
    }

    [Fact]
    public void If_None_Match_split_over_several_lines_is_one_list()
    {
        Assert.True(Conditionals.NoneMatchFails(["\"x\"", "\"abc123\""], ETag));
    }

    [Fact]
    public void If_None_Match_wins_over_If_Modified_Since()
    {
        var since = Conditionals.FormatHttpDate(Modified.AddDays(1));

        Assert.False(Conditionals.NotModified(["\"other\""], [since], ETag, Modified));
        Assert.True(Conditionals.NotModified([ETag], [], ETag, Modified));
    }

    [Theory]
    [InlineData("Thu, 26 Nov 2026 10:00:00 GMT", true)] // the Last-Modified the client saw, in whole seconds
    [InlineData("Thu, 26 Nov 2026 10:00:01 GMT", true)]
    [InlineData("Thu, 26 Nov 2026 09:59:59 GMT", false)]
    [InlineData("Thursday, 26-Nov-26 10:00:00 GMT", true)]
    [InlineData("Thu Nov 26 10:00:00 2026", true)]
    [InlineData("yesterday", false)]
    public void If_Modified_Since_compares_whole_seconds(string field, bool notModified)
    {
        Assert.Equal(notModified, Conditionals.NotModified([], [field], ETag, Modified));
    }

    [Fact]
    public void Dates_are_written_as_IMF_fixdate()
    {
        Assert.Equal("Thu, 26 Nov 2026 10:00:00 GMT", Conditionals.FormatHttpDate(Modified));
    }
}
