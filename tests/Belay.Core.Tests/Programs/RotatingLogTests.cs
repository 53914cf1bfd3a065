using System.Text;
using Belay.Core.Programs;
using Belay.TestSupport;

namespace Belay.Core.Tests.Programs;

public sealed class RotatingLogTests
{
    private static string Lines(int from, int to) => string.Concat(Enumerable.Range(from, to - from + 1).Select(i => $"line {i:D5}\n"));

    [Fact]
    public void RotationKeepsEveryByteAndFallsOnLineBreaks()
    {
        using var dir = new TempDir();
        var path = dir.Combine("p.log");
        var text = Lines(1, 2000); // 11 bytes a line, 22000 bytes
        using (var log = new RotatingLog(path, 4096, 10))
        {
            // Written in odd-sized chunks, as a pipe delivers them.
            var bytes = Encoding.ASCII.GetBytes(text);
            for (var i = 0; i < bytes.Length; i += 777)
            {
                log.Write(bytes.AsSpan(i, Math.Min(777, bytes.Length - i)));
            }
        }
        var files = Enumerable.Range(1, 10).Reverse().Select(i => $"{path}.{i}").Where(File.Exists).Append(path).ToList();
        Assert.Equal(6, files.Count);
        Assert.Equal(text, string.Concat(files.Select(File.ReadAllText)));
        Assert.All(files, f => Assert.True(new FileInfo(f).Length <= 4096));
        Assert.All(files.SkipLast(1), f => Assert.EndsWith("\n", File.ReadAllText(f), StringComparison.Ordinal));
    }

    [Fact]
    public void TheOldestBackupIsDropped()
    {
        using var dir = new TempDir();
        var path = dir.Combine("p.log");
        using (var log = new RotatingLog(path, 1100, 2))
        {
            log.Write(Encoding.ASCII.GetBytes(Lines(1, 400)));
        }
        Assert.False(File.Exists(path + ".3"));
        Assert.EndsWith(Lines(300, 400), File.ReadAllText(path.Replace("p.log", "p.log.2", StringComparison.Ordinal)) + File.ReadAllText(path + ".1") + File.ReadAllText(path), StringComparison.Ordinal);
    }

    [Fact]
    public void ALineLongerThanTheFileIsCut()
    {
        using var dir = new TempDir();
        var path = dir.Combine("p.log");
        using (var log = new RotatingLog(path, 1024, 5))
        {
            log.Write(new byte[3000]);
        }
        Assert.Equal(3000, new[] { path, path + ".1", path + ".2" }.Sum(f => new FileInfo(f).Length));
    }

    [Fact]
    public void ANewWriterAppendsToTheFileItFinds()
    {
        using var dir = new TempDir();
        var path = dir.Combine("p.log");
        using (var log = new RotatingLog(path, 1 << 20, 1))
        {
            log.Write("12"u8);
        }
        using (var log = new RotatingLog(path, 1 << 20, 1))
        {
            log.Write("3\n"u8);
        }
        Assert.Equal("123\n", File.ReadAllText(path));
    }

    [Fact]
    public void ALineWhoseStartCameInAnEarlierChunkIsNotSplitByARotation()
    {
        // A pipe read ends mid-line; the rest of the line does not fit in the file any more.
        using var dir = new TempDir();
        var path = dir.Combine("p.log");
        using (var log = new RotatingLog(path, 1024, 5))
        {
            log.Write(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(new string('x', 99) + "\n", 10)) + "0123456789"));
            Assert.NotNull(log.PendingSince);
            log.Write(Encoding.ASCII.GetBytes(new string('y', 89) + "\n"));
            Assert.Null(log.PendingSince);
        }
        Assert.EndsWith("x\n", File.ReadAllText(path + ".1"), StringComparison.Ordinal);
        Assert.Equal("0123456789" + new string('y', 89) + "\n", File.ReadAllText(path));
    }

    [Fact]
    public void AnUnfinishedLineIsHeldBackUntilFlushedAndWrittenOnDispose()
    {
        using var dir = new TempDir();
        var path = dir.Combine("p.log");
        var log = new RotatingLog(path, 1 << 20, 1);
        log.Write("done\nPassword: "u8);
        Assert.Equal("done\n", ReadShared(path));
        log.FlushPending();
        Assert.Null(log.PendingSince);
        Assert.Equal("done\nPassword: ", ReadShared(path));
        log.Write("more"u8);
        log.Dispose();
        Assert.Equal("done\nPassword: more", File.ReadAllText(path));
    }

    [Fact]
    public void AnUnfinishedLineLongerThanTheHoldIsWrittenAsItComes()
    {
        using var dir = new TempDir();
        var path = dir.Combine("p.log");
        using var log = new RotatingLog(path, 1 << 20, 1);
        log.Write(new byte[RotatingLog.PendingLimit - 10]);
        Assert.Equal(0, new FileInfo(path).Length);
        log.Write(new byte[20]);
        Assert.Equal(RotatingLog.PendingLimit + 10, new FileInfo(path).Length);
        Assert.Null(log.PendingSince);
    }

    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
