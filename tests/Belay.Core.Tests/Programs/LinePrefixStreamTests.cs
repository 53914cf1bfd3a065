using System.Text;
using Belay.Core.Programs;

namespace Belay.Core.Tests.Programs;

public sealed class LinePrefixStreamTests
{
    [Fact]
    public async Task LinesFromSeveralLogsComeOutWholeBehindTheirNames()
    {
        using var output = new MemoryStream();
        using var gate = new SemaphoreSlim(1, 1);
        await using var a = new LinePrefixStream(output, gate, LinePrefixStream.PrefixFor("web", 6));
        await using var b = new LinePrefixStream(output, gate, LinePrefixStream.PrefixFor("worker", 6));
        await a.WriteAsync(Encoding.UTF8.GetBytes("one\ntw"), TestContext.Current.CancellationToken);
        await b.WriteAsync(Encoding.UTF8.GetBytes("job 1\n"), TestContext.Current.CancellationToken);
        await a.WriteAsync(Encoding.UTF8.GetBytes("o\nthree"), TestContext.Current.CancellationToken);
        await a.FinishAsync(TestContext.Current.CancellationToken);
        Assert.Equal("web    | one\nworker | job 1\nweb    | two\nweb    | three\n", Encoding.UTF8.GetString(output.ToArray()));
    }
}
