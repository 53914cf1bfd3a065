using System.Net.WebSockets;
using Belay.Hub.Agents;
using Belay.Hub.Logs;
using Belay.TestSupport;

namespace Belay.Hub.Tests.Logs;

public sealed class TailSessionTests
{
    private static TailSession NewSession()
    {
        var clock = new FakeClock();
        using var socket = WebSocket.CreateFromStream(new MemoryStream(), new WebSocketCreationOptions { IsServer = true });
        var agent = new AgentConnection("h1", "127.0.0.1", socket, new TailSessions(clock, new Belay.Hub.Cluster.SingleNode()), new StateWriter(null!), null!, new Belay.Hub.Cluster.SingleNode(),
            Serilog.Core.Logger.None, clock);
        return new TailSession(1, agent, "web", "stdout", "ann", "hash", clock.Now);
    }

    private sealed class Upstream(string? node) : ITailUpstream
    {
        public List<string> Sent { get; } = [];

        public string HostId => "h1";

        public string? RemoteNode => node;

        public void Send(byte[] frame) => Sent.Add(System.Text.Encoding.UTF8.GetString(frame));

        public void TailOpened(long id)
        {
        }
    }

    [Fact]
    public void AMovedTailGoesOnFromItsOffsetWithFreshCreditAndAsksTheNewUpstreamForNewLinesOnly()
    {
        var session = NewSession();
        Assert.True(session.OnData(0, new string('a', 60 * 1024)));
        var there = new Upstream("nodeb");
        TailSessions.Move(session, there);
        Assert.Same(there, session.Agent);
        var open = Assert.Single(there.Sent);
        Assert.Contains("\"tail.open\"", open, StringComparison.Ordinal);
        Assert.Contains("\"lines\":0", open, StringComparison.Ordinal);
        // The host's new stream starts at 0 again: it lands at the offset the reader had reached, with a whole window of credit.
        Assert.True(session.OnData(0, new string('b', 64 * 1024)));
        var events = session.Read(60 * 1024, long.MaxValue);
        Assert.Equal((60L * 1024, 64L * 1024, false), (events[0].Offset, events[0].Bytes, events[0].IsSkip));
        Assert.StartsWith("b", events[0].Text, StringComparison.Ordinal);
    }

    [Fact]
    public void DataPastTheCreditIsRefused()
    {
        var session = NewSession();
        Assert.True(session.OnData(0, new string('a', 60 * 1024)));
        Assert.False(session.OnData(60 * 1024, new string('b', 8 * 1024)));
        Assert.True(session.OnData(60 * 1024, new string('c', 4 * 1024)));
    }

    [Fact]
    public void AReaderGetsEventsFromAnOffsetAndAGapForWhatIsNoLongerBuffered()
    {
        var session = NewSession();
        session.OnData(0, "one\n");
        session.OnSkip(100);
        session.OnData(104, "two\n");
        var all = session.Read(0, 1 << 20);
        Assert.Equal([(0L, 4L, false), (4L, 100L, true), (104L, 4L, false)], all.Select(e => (e.Offset, e.Bytes, e.IsSkip)));
        var inside = session.Read(2, 1 << 20);
        Assert.Equal("e\n", inside[0].Text);
        Assert.Equal(108, inside[^1].End);
        Assert.Empty(session.Read(108, 1 << 20));
    }

    [Fact]
    public void TheBufferKeepsTheNewestBytesAndShowsTheRestAsAGap()
    {
        var session = NewSession();
        long offset = 0;
        for (var i = 0; i < 8; i++)
        {
            var text = new string((char)('a' + i), 60 * 1024);
            Assert.True(session.OnData(offset, text));
            offset += text.Length;
            session.Grant(text.Length, caughtUp: true);
        }
        var events = session.Read(0, long.MaxValue);
        Assert.True(events[0].IsSkip);
        Assert.True(events.Where(e => !e.IsSkip).Sum(e => e.Bytes) <= TailSession.BufferBytes);
        Assert.Equal(offset, events[^1].End);
    }

    [Fact]
    public void AUtf8CharacterIsNeverSplitWhenResumingInsideIt()
    {
        var session = NewSession();
        session.OnData(0, "é!"); // two bytes, then one
        var from = session.Read(1, 100);
        Assert.Equal("!", from[0].Text);
        Assert.Equal(2, from[0].Offset);
    }
}
