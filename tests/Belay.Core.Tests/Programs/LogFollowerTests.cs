using System.Text;
using Belay.Core.Programs;
using Belay.TestSupport;

namespace Belay.Core.Tests.Programs;

public sealed class LogFollowerTests
{
    [Theory]
    [InlineData("a\nb\nc\n", 2, "b\nc\n")]
    [InlineData("a\nb\nc", 2, "b\nc")]
    [InlineData("a\nb\nc\n", 10, "a\nb\nc\n")]
    [InlineData("a\nb\nc\n", 0, "")]
    public void TailPrintsTheLastLines(string text, int lines, string expected)
    {
        using var dir = new TempDir();
        var path = dir.Combine("p.log");
        File.WriteAllText(path, text);
        Assert.Equal(expected, Encoding.ASCII.GetString(LogFollower.Tail(path, lines)));
    }

    [Fact]
    public void TailReadsAcrossBlocks()
    {
        using var dir = new TempDir();
        var path = dir.Combine("p.log");
        File.WriteAllText(path, string.Concat(Enumerable.Range(0, 50_000).Select(i => $"{i}\n")));
        Assert.Equal("49997\n49998\n49999\n", Encoding.ASCII.GetString(LogFollower.Tail(path, 3)));
    }

    [Fact]
    public async Task FollowingSeesEveryLineAcrossRotations()
    {
        using var dir = new TempDir();
        var path = dir.Combine("p.log");
        var expected = new StringBuilder();
        using var output = new SynchronizedStream();
        using var cancel = new CancellationTokenSource();
        // 4000-byte files rotate about every 35 ms here, faster than the follower polls (100 ms):
        // several rotations fall between two polls.
        var log = new RotatingLog(path, 4000, 50);
        try
        {
            log.Write("before\n"u8);
            var follow = LogFollower.RunAsync(() => path, 1, follow: true, output, cancel.Token);
            expected.Append("before\n");
            for (var i = 0; i < 3000; i++)
            {
                var line = $"line {i}\n";
                log.Write(Encoding.ASCII.GetBytes(line));
                expected.Append(line);
                if (i % 100 == 0)
                {
                    await Task.Delay(15, TestContext.Current.CancellationToken);
                }
            }
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (output.Text.Length < expected.Length && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
            await cancel.CancelAsync();
            await follow;
        }
        finally
        {
            log.Dispose();
        }
        Assert.Equal(expected.ToString(), output.Text);
    }

    private sealed class SynchronizedStream : MemoryStream
    {
        public string Text
        {
            get
            {
                lock (this)
                {
                    return Encoding.ASCII.GetString(ToArray());
                }
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (this)
            {
                base.Write(buffer, offset, count);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer, offset, count);
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.ToArray(), 0, buffer.Length);
            return ValueTask.CompletedTask;
        }
    }
}
