using System.Text;
using Belay.Core.Hub;
using Belay.Hub.Cluster;

namespace Belay.Hub.Tests.Cluster;

public sealed class ClusterMessagesTests
{
    [Fact]
    public void AFrameForAnAgentRoundTrips()
    {
        var frame = HubMessages.Serialize(new Poke(), HubJsonContext.Default.Poke);
        var parsed = ClusterMessages.Parse(ClusterMessages.ToAgent("nodeb", "host1", frame))!.Value;
        Assert.Equal(('a', "nodeb", "host1"), (parsed.Kind, parsed.From, parsed.HostId));
        Assert.Equal(frame, parsed.Frame);
    }

    [Theory]
    [InlineData("")]
    [InlineData("x|a|b|{}")]
    [InlineData("a|nodeb|{}")]
    [InlineData("t||h|{}")]
    public void WhatIsNotOursIsIgnored(string payload) => Assert.Null(ClusterMessages.Parse(payload));

    [Fact]
    public void ALargeTailDataIsCutIntoPayloadsThatFitAndCarryTheSameBytesAtTheSameOffsets()
    {
        // Control characters take six bytes each in JSON, and an emoji is a surrogate pair: the worst cases for the cut.
        var text = string.Concat(Enumerable.Range(0, 3000).Select(i => i % 3 == 0 ? "\u0001" : i % 3 == 1 ? "é" : "😀"));
        var payloads = ClusterMessages.ForReader("nodea", "host1", HubMessages.TailDataFrame(7, 1000, text));
        Assert.True(payloads.Count > 1);
        var rebuilt = new StringBuilder();
        long offset = 1000;
        foreach (var payload in payloads)
        {
            Assert.True(Encoding.UTF8.GetByteCount(payload) <= ClusterMessages.MaxPayload, $"{Encoding.UTF8.GetByteCount(payload)} bytes");
            var message = ClusterMessages.Parse(payload)!.Value;
            Assert.Equal(('t', "nodea", "host1"), (message.Kind, message.From, message.HostId));
            var data = HubMessages.Parse(message.Frame, HubJsonContext.Default.TailData);
            Assert.Equal((7L, offset), (data.Id, data.Offset));
            offset += Encoding.UTF8.GetByteCount(data.Text);
            rebuilt.Append(data.Text);
        }
        Assert.Equal(text, rebuilt.ToString());
    }

    [Fact]
    public void ATailFollowsItsHostWaitsForItAndEndsWhenItDoesNotComeBack()
    {
        var since = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        var now = since.AddMinutes(5);
        var grace = TimeSpan.FromSeconds(60);
        Assert.Equal(TailFollow.Step.Stay, TailFollow.Decide("a", since, null, new AgentLocation("a", since), "b", now, grace));
        Assert.Equal(TailFollow.Step.Wait, TailFollow.Decide("a", since, null, null, "b", now, grace));
        Assert.Equal(TailFollow.Step.Wait, TailFollow.Decide("a", since, now.AddSeconds(-59), null, "b", now, grace));
        Assert.Equal(TailFollow.Step.End, TailFollow.Decide("a", since, now.AddSeconds(-60), null, "b", now, grace));
        Assert.Equal(TailFollow.Step.MoveHere, TailFollow.Decide("a", since, null, new AgentLocation("b", now), "b", now, grace));
        Assert.Equal(TailFollow.Step.MoveThere, TailFollow.Decide("a", since, null, new AgentLocation("c", now), "b", now, grace));
        Assert.Equal(TailFollow.Step.MoveThere, TailFollow.Decide("a", since, null, new AgentLocation("a", now), "b", now, grace)); // a new connection on the same node
    }
}
