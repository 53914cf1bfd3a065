using System.Text;
using System.Text.Json;
using Belay.Core.Hub;

namespace Belay.Core.Tests.Hub;

public sealed class HubMessagesTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Theory]
    [InlineData("{\"t\":\"hello\",\"v\":1}", "hello")]
    [InlineData("{\"v\":1,\"nested\":{\"t\":\"x\"},\"t\":\"tail.data\"}", "tail.data")]
    [InlineData("{\"t\":5}", null)]
    [InlineData("{\"v\":1}", null)]
    [InlineData("[\"t\",\"hello\"]", null)]
    [InlineData("{\"t\":\"hel", null)]
    [InlineData("not json", null)]
    [InlineData("", null)]
    public void TheTypeIsReadFromTheTopLevelOnly(string frame, string? type) => Assert.Equal(type, HubMessages.TypeOf(B(frame)));

    [Fact]
    public void UnknownFieldsAreIgnoredAndMissingOnesKeepTheirDefaults()
    {
        var open = HubMessages.Parse(B("{\"t\":\"tail.open\",\"id\":3,\"program\":\"web\",\"future\":{\"x\":1}}"), HubJsonContext.Default.TailOpen);
        Assert.Equal(3, open.Id);
        Assert.Equal("stdout", open.Stream);
        Assert.Equal(100, open.Lines);
        Assert.True(open.Follow);
        var hello = HubMessages.Parse(B("{\"t\":\"hello\",\"host\":{\"hostname\":\"h\"}}"), HubJsonContext.Default.Hello);
        Assert.Empty(hello.Host.Macs);
    }

    [Fact]
    public void AStateFrameCarriesTheStatusObjectAsItIs()
    {
        var frame = HubMessages.StateFrame(B("{\"version\":\"1.2.3\",\"programs\":[]}"));
        Assert.Equal("state", HubMessages.TypeOf(frame));
        Assert.Equal("{\"version\":\"1.2.3\",\"programs\":[]}", HubMessages.StateJson(frame));
        Assert.Throws<JsonException>(() => HubMessages.StateJson(B("{\"t\":\"state\",\"state\":[1]}")));
        Assert.Throws<JsonException>(() => HubMessages.StateJson(B("{\"t\":\"state\"}")));
    }

    [Fact]
    public void ATailDataFrameRoundTripsAnyText()
    {
        var text = "line with \"quotes\", a tab\t, é, 🦀 and \u0001\n";
        var frame = HubMessages.TailDataFrame(7, 1234, text);
        var data = HubMessages.Parse(frame, HubJsonContext.Default.TailData);
        Assert.Equal((7L, 1234L, text), (data.Id, data.Offset, data.Text));
    }

    [Theory]
    [InlineData("abc", 3)]
    [InlineData("ab\u00e9", 4)]
    public void CompleteUtf8LengthKeepsWholeCharacters(string text, int expected) =>
        Assert.Equal(expected, HubMessages.CompleteUtf8Length(B(text)));

    [Fact]
    public void AnIncompleteLastCharacterWaitsForTheNextRead()
    {
        var crab = B("ab🦀");
        for (var cut = 3; cut < crab.Length; cut++)
        {
            Assert.Equal(2, HubMessages.CompleteUtf8Length(crab.AsSpan(0, cut)));
        }
        Assert.Equal(crab.Length, HubMessages.CompleteUtf8Length(crab));
        Assert.Equal(2, HubMessages.CompleteUtf8Length(new byte[] { 0x80, 0x80 }));
    }
}
