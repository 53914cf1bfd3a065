using System.Text;
using Belay.Core.Hub;

namespace Belay.Core.Tests.Hub;

public sealed class HubOutboxTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static string? Next(HubOutbox outbox) => outbox.TryDequeue() is { } f ? Encoding.UTF8.GetString(f) : null;

    [Fact]
    public void ANewerStateReplacesTheOneNotSentYet()
    {
        var outbox = new HubOutbox();
        outbox.SetState(B("state 1"));
        outbox.SetState(B("state 2"));
        outbox.SetState(B("state 3"));
        Assert.Equal("state 3", Next(outbox));
        Assert.Null(Next(outbox));
    }

    [Fact]
    public void ControlGoesFirstThenStateThenData()
    {
        var outbox = new HubOutbox();
        Assert.True(outbox.TryEnqueueData(B("data")));
        outbox.SetState(B("state"));
        outbox.EnqueueControl(B("control"));
        Assert.Equal(["control", "state", "data"], [Next(outbox)!, Next(outbox)!, Next(outbox)!]);
    }

    [Fact]
    public void DataIsBoundedAndControlKeepsOnlyTheNewest()
    {
        var outbox = new HubOutbox();
        var piece = new byte[64 * 1024];
        var taken = 0;
        while (outbox.TryEnqueueData(piece))
        {
            taken++;
        }
        Assert.Equal(HubOutbox.MaxDataBytes / piece.Length, taken);
        Assert.True(outbox.DataBytes <= HubOutbox.MaxDataBytes);
        for (var i = 0; i < HubOutbox.MaxControl + 10; i++)
        {
            outbox.EnqueueControl(B($"c{i}"));
        }
        Assert.Equal("c10", Next(outbox));
    }

    [Fact]
    public async Task AWaitingReaderWakesWhenSomethingArrives()
    {
        var outbox = new HubOutbox();
        var waiting = outbox.DequeueAsync(TestContext.Current.CancellationToken);
        Assert.False(waiting.IsCompleted);
        outbox.SetState(B("s"));
        Assert.Equal("s", Encoding.UTF8.GetString(await waiting.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken)));
    }
}
