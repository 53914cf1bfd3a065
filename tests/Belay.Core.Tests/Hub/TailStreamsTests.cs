using System.Text;
using Belay.Core.Hub;
using Belay.TestSupport;

namespace Belay.Core.Tests.Hub;

/// <summary>The agent's live tails over real files: the last lines, then new ones, the cap, close, expiry, a slow hub.</summary>
public sealed class TailStreamsTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly HubOutbox _outbox = new();
    private readonly FakeClock _clock = new();
    private readonly TailStreams _tails;

    public TailStreamsTests()
    {
        _tails = new TailStreams((program, stream) => program == "missing" ? null : () => _dir.Combine(program + "." + stream + ".log"), _outbox, _clock, _ => { });
    }

    private string Log(string program) => _dir.Combine(program + ".stdout.log");

    private List<string> Frames()
    {
        var frames = new List<string>();
        while (_outbox.TryDequeue() is { } frame)
        {
            frames.Add(Encoding.UTF8.GetString(frame));
        }
        return frames;
    }

    private List<string> WaitFrames(Func<List<string>, bool> done)
    {
        var all = new List<string>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            all.AddRange(Frames());
            if (done(all))
            {
                return all;
            }
            Thread.Sleep(20);
        }
        Assert.Fail("frames so far: " + string.Join(" | ", all));
        return all;
    }

    private static string Data(IEnumerable<string> frames) =>
        string.Concat(frames.Where(f => HubMessages.TypeOf(Encoding.UTF8.GetBytes(f)) == HubMessages.TailDataType)
            .Select(f => HubMessages.Parse(Encoding.UTF8.GetBytes(f), HubJsonContext.Default.TailData).Text));

    /// <summary>Opens stream 1 on a log with one line and waits for that line: from then on the tail follows (however loaded the machine).</summary>
    private void OpenFollowing(string program)
    {
        File.WriteAllText(Log(program), "ready\n");
        _tails.Open(new TailOpen { Id = 1, Program = program, Lines = 1 });
        WaitFrames(f => Data(f) == "ready\n");
    }

    [Fact]
    public void ATailSendsTheLastLinesThenEachNewLine()
    {
        File.WriteAllText(Log("web"), "1\n2\n3\n4\n");
        _tails.Open(new TailOpen { Id = 1, Program = "web", Lines = 2 });
        WaitFrames(f => Data(f) == "3\n4\n");
        File.AppendAllText(Log("web"), "5\n");
        WaitFrames(f => Data(f) == "5\n");
        _tails.Close(new TailClose { Id = 1 });
        var end = WaitFrames(f => f.Any(x => x.Contains("tail.end", StringComparison.Ordinal)));
        Assert.Contains("closed by the hub", end.Last(), StringComparison.Ordinal);
    }

    [Fact]
    public void AFifthStreamIsRefusedAndAnUnknownProgramToo()
    {
        _tails.Open(new TailOpen { Id = 6, Program = "missing" });
        foreach (var id in Enumerable.Range(1, 4))
        {
            _tails.Open(new TailOpen { Id = id, Program = "p" + id });
        }
        Assert.Equal(4, _tails.Count);
        _tails.Open(new TailOpen { Id = 5, Program = "p5" });
        var frames = WaitFrames(f => f.Count(x => x.Contains("tail.end", StringComparison.Ordinal)) == 2);
        Assert.Contains(frames, f => f.Contains("\"id\":5", StringComparison.Ordinal) && f.Contains("at most 4", StringComparison.Ordinal));
        Assert.Contains(frames, f => f.Contains("\"id\":6", StringComparison.Ordinal) && f.Contains("no stdout log", StringComparison.Ordinal));
        Assert.Equal(4, _tails.Count);
    }

    [Fact]
    public void AStreamEndsFifteenMinutesAfterItsLastRenewal()
    {
        _tails.Open(new TailOpen { Id = 1, Program = "web" });
        _clock.Advance(TimeSpan.FromMinutes(10));
        _tails.Open(new TailOpen { Id = 1, Program = "web" }); // renew
        _clock.Advance(TimeSpan.FromMinutes(10));
        _tails.Tick();
        Assert.Equal(1, _tails.Count);
        _clock.Advance(TimeSpan.FromMinutes(5));
        _tails.Tick();
        var frames = WaitFrames(f => f.Any(x => x.Contains("tail.end", StringComparison.Ordinal)));
        Assert.Contains("expired after 15 minutes", frames.Last(), StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutCreditTheTailDropsAndReportsItAndTheFileIsReadOnAnyway()
    {
        OpenFollowing("web");
        var line = new string('x', 99) + "\n";
        File.AppendAllText(Log("web"), string.Concat(Enumerable.Repeat(line, 2000))); // 200 KB, three times the credit
        var frames = WaitFrames(f => Data(f).Length >= 60_000);
        Thread.Sleep(300);
        frames.AddRange(Frames());
        var sent = Data(frames);
        Assert.True(sent.Length <= HubMessages.InitialCredit, $"{sent.Length} bytes sent on a 64 KiB credit");
        // Whole lines, and at most the start of one more (it fitted; its rest was dropped and the skip says so).
        var whole = sent[..(sent.LastIndexOf('\n') + 1)];
        Assert.True(whole.Split('\n', StringSplitOptions.RemoveEmptyEntries).All(l => l.Length == 99), "a line was cut in the middle of the text");
        _tails.Tick();
        var skip = Frames().Concat(frames).Where(f => f.Contains("tail.skip", StringComparison.Ordinal))
            .Sum(f => HubMessages.Parse(Encoding.UTF8.GetBytes(f), HubJsonContext.Default.TailSkip).Bytes);
        Assert.Equal(200_000 - sent.Length, skip);
        // Credit back: what is written next goes out.
        _tails.Credit(new TailCredit { Id = 1, Bytes = 64 * 1024 });
        File.AppendAllText(Log("web"), "after\n");
        WaitFrames(f => Data(f).Contains("after\n", StringComparison.Ordinal));
    }

    [Fact]
    public void EveryFrameFitsTheHubsLimitHoweverTheTextEscapes()
    {
        OpenFollowing("web");
        // Control characters take six bytes each in JSON: 64 KiB of them would be a 384 KiB frame in one piece.
        using (var file = new FileStream(Log("web"), FileMode.Append))
        {
            file.Write([.. Enumerable.Repeat((byte)1, 60 * 1024), (byte)'\n']);
        }
        var frames = new List<byte[]>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        long text = 0;
        while (text < 60 * 1024 && DateTime.UtcNow < deadline)
        {
            while (_outbox.TryDequeue() is { } frame)
            {
                frames.Add(frame);
                if (HubMessages.TypeOf(frame) == HubMessages.TailDataType)
                {
                    text += HubMessages.Parse(frame, HubJsonContext.Default.TailData).Text.Length;
                }
            }
            Thread.Sleep(20);
        }
        Assert.Equal(60 * 1024 + 1, text);
        Assert.All(frames, f => Assert.True(f.Length <= HubMessages.MaxFrameBytes, $"a frame of {f.Length} bytes"));
    }

    [Fact]
    public void ATailFollowsTheLogAcrossItsRotations()
    {
        // The agent's own writer: files of 2,000 bytes, so the tail below sees several rotations.
        using var log = new Belay.Core.Programs.RotatingLog(Log("web"), 2000, 20);
        log.Write("before\n"u8);
        log.FlushPending();
        _tails.Open(new TailOpen { Id = 1, Program = "web", Lines = 1 });
        WaitFrames(f => Data(f) == "before\n");
        var expected = new StringBuilder();
        for (var i = 0; i < 200; i++)
        {
            var line = $"line {i:000} after the tail opened\n";
            log.Write(Encoding.ASCII.GetBytes(line));
            log.FlushPending();
            expected.Append(line);
            if (i % 20 == 0)
            {
                Thread.Sleep(30);
            }
        }
        Assert.True(File.Exists(Log("web") + ".2"), "the log did not rotate");
        var frames = WaitFrames(f => Data(f).Length >= expected.Length);
        Assert.Equal(expected.ToString(), Data(frames));
        Assert.DoesNotContain(frames, f => f.Contains("tail.skip", StringComparison.Ordinal) || f.Contains("tail.end", StringComparison.Ordinal));
    }

    public void Dispose()
    {
        _tails.CloseAllAsync().GetAwaiter().GetResult();
        _dir.Dispose();
    }
}
