using System.Text;
using Belay.Core.Hub;

namespace Belay.Core.Tests.Hub;

public sealed class TailWindowTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static string Sent(byte[] chunk, IEnumerable<TailPiece> pieces) =>
        string.Concat(pieces.Where(p => !p.IsSkip).Select(p => Encoding.UTF8.GetString(chunk, p.Start, (int)p.Length)));

    [Fact]
    public void WhatFitsInTheCreditIsSentWholeAndCreditGoesDown()
    {
        var window = new TailWindow(100);
        var chunk = B("one\ntwo\n");
        var pieces = window.Accept(chunk);
        Assert.Equal("one\ntwo\n", Sent(chunk, pieces));
        Assert.Equal(0, pieces[0].Offset);
        Assert.Equal(92, window.Credit);
        Assert.Equal(8, window.Offset);
    }

    [Fact]
    public void WithoutCreditWholeLinesAreDroppedUntilCreditReturnsAndTheSkipComesBeforeTheNextData()
    {
        var window = new TailWindow(10);
        var first = B("aaaa\nbbbb\ncccc\ndddd\n");
        var pieces = window.Accept(first);
        Assert.Equal("aaaa\nbbbb\n", Sent(first, pieces));
        Assert.DoesNotContain(pieces, p => p.IsSkip);
        Assert.Equal(10, window.PendingSkip);
        window.AddCredit(10);
        var second = B("eeee\n");
        var next = window.Accept(second);
        Assert.True(next[0].IsSkip);
        Assert.Equal(10, next[0].Offset);
        Assert.Equal(10, next[0].Length);
        Assert.Equal(20, next[1].Offset);
        Assert.Equal("eeee\n", Sent(second, next));
        Assert.Equal(0, window.PendingSkip);
    }

    [Fact]
    public void ALineIsNeverCutWhereCreditRanOutTheRestOfItIsDroppedToo()
    {
        var window = new TailWindow(8);
        var chunk = B("12345\n67890\n");
        Assert.Equal("12345\n", Sent(chunk, window.Accept(chunk)));
        window.AddCredit(100);
        // The line that did not fit was whole in this read: dropped to its end, and the next read starts clean.
        var more = B("tail of nothing\nnext\n");
        Assert.Equal("tail of nothing\nnext\n", Sent(more, window.Accept(more)));
        var window2 = new TailWindow(8);
        var partial = B("12345\n6789");
        Assert.Equal("12345\n", Sent(partial, window2.Accept(partial)));
        window2.AddCredit(100);
        var rest = B("0-end\nnext\n");
        var pieces = window2.Accept(rest);
        Assert.Equal("next\n", Sent(rest, pieces));
        Assert.Equal(10, pieces.First(p => p.IsSkip).Length); // "6789" + "0-end\n"
    }

    [Fact]
    public void ALineLongerThanTheWholeWindowGoesOutInWindowSizedPieces()
    {
        var window = new TailWindow(4, 4);
        var chunk = B("abcdefghij\n");
        var pieces = window.Accept(chunk);
        Assert.Equal("abcd", Sent(chunk, pieces));
        window.AddCredit(4);
        var rest = chunk.AsSpan(4).ToArray();
        Assert.Equal("efgh", Sent(rest, window.Accept(rest)));
    }

    [Fact]
    public void CreditIsCappedSoAHubCannotMakeTheAgentBufferMore()
    {
        var window = new TailWindow(64, 128);
        window.AddCredit(1_000_000);
        Assert.Equal(128, window.Credit);
        window.AddCredit(-5);
        Assert.Equal(128, window.Credit);
    }

    [Fact]
    public void TheOpeningTailKeepsItsNewestLinesWhenItDoesNotFit()
    {
        var window = new TailWindow(12);
        var tail = B("old1\nold2\nnew1\nnew2\n");
        var pieces = window.AcceptLatest(tail);
        Assert.Equal("new1\nnew2\n", Sent(tail, pieces));
        Assert.True(pieces[0].IsSkip);
        Assert.Equal(10, pieces[0].Length);
        Assert.Equal(10, pieces[1].Offset);
    }

    [Fact]
    public void OffsetsCountEveryByteSentOrDropped()
    {
        var window = new TailWindow(6);
        var pieces = window.Accept(B("ab\ncd\nef\ngh\n"));
        window.AddCredit(100);
        var next = window.Accept(B("ij\n"));
        Assert.Equal(12, next.Last().Offset);
        Assert.Equal(15, window.Offset);
        Assert.Equal(6, window.Dropped);
        Assert.Equal(0, window.TakeSkip());
        Assert.NotEmpty(pieces);
    }
}
