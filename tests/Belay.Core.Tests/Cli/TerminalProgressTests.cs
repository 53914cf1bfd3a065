using Belay.Core.Cli;
using Belay.TestSupport;

namespace Belay.Core.Tests.Cli;

public sealed class TerminalProgressTests
{
    [Fact]
    public void TheLineSaysHowMuchOfHowMuchAndDrawsABar()
    {
        Assert.Equal("  2.0 MiB of 4.0 MiB  50% [##########----------]", TerminalProgress.Render(2 * 1024 * 1024, 4 * 1024 * 1024));
        Assert.Equal("  0 B of 512 B   0% [--------------------]", TerminalProgress.Render(0, 512));
    }

    [Fact]
    public void ItRedrawsInPlaceAtMostTenTimesASecondAndErasesItselfAtTheEnd()
    {
        var clock = new FakeClock();
        using var text = new StringWriter();
        using (var bar = new TerminalProgress(text, clock))
        {
            bar.Report(0, 100);
            bar.Report(10, 100); // within 100 ms: not drawn
            clock.Advance(TimeSpan.FromMilliseconds(150));
            bar.Report(50, 100);
            bar.Report(100, 100); // the end is always drawn
        }
        var drawn = text.ToString();
        Assert.Equal(3, drawn.Count(c => c == '%'));
        Assert.StartsWith("\r", drawn, StringComparison.Ordinal);
        Assert.EndsWith("\r", drawn, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', drawn);
    }
}
