using System.Diagnostics;
using System.Globalization;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Programs;

/// <summary>Program output: captured in full across rotations, and followed live by belay logs -f.</summary>
public sealed class ProgramLogTests
{
    [Fact]
    public void AProgramWriting100MegabytesQuicklyIsLoggedInFullAcrossRotationsWhileStatusStillAnswers()
    {
        const int lines = 1 << 20; // 100-byte lines: 100 MiB
        using var host = new ProgramsHost("""
            [program:flood]
            command = seq -f %099.0f 1 1048576
            restart = never
            log_max_bytes = 16MB
            log_backups = 10
            """);
        var slowest = TimeSpan.Zero;
        var watch = Stopwatch.StartNew();
        var logDir = Path.GetDirectoryName(host.LogFile("flood"))!;
        long Logged() => Directory.EnumerateFiles(logDir, "flood.log*").Sum(f => new FileInfo(f).Length);
        while (Logged() < lines * 100L && watch.Elapsed < TimeSpan.FromSeconds(60))
        {
            var asked = Stopwatch.StartNew();
            var status = host.Belay("status", "--json");
            Assert.True(status.ExitCode == 0, status.ToString());
            Assert.Contains("\"flood\"", status.StdOut, StringComparison.Ordinal);
            slowest = asked.Elapsed > slowest ? asked.Elapsed : slowest;
        }
        Assert.Equal(lines * 100L, Logged());
        Assert.True(slowest < TimeSpan.FromSeconds(2), $"belay status took {slowest.TotalMilliseconds:0} ms while the program wrote");
        host.WaitForProgram("flood", p => ProgramsHost.State(p) == "exited", TimeSpan.FromSeconds(10), "exited");

        // Every line, once, in order, across the rotated files.
        var path = host.LogFile("flood");
        var files = Enumerable.Range(1, 10).Select(i => $"{path}.{i}").Where(File.Exists).Reverse().Append(path).ToList();
        Assert.True(files.Count >= 7, $"expected rotation into several files: {string.Join(", ", files)}");
        var expected = 1L;
        foreach (var file in files)
        {
            Assert.True(new FileInfo(file).Length <= 16 * 1024 * 1024, file);
            foreach (var line in File.ReadLines(file))
            {
                Assert.Equal(99, line.Length);
                Assert.True(long.Parse(line, CultureInfo.InvariantCulture) == expected, $"{file}: expected line {expected}, found {line}");
                expected++;
            }
        }
        Assert.Equal(lines + 1L, expected);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LogsFollowSeesEachLineWithinASecondAcrossRotations(bool stderr)
    {
        // About 120-byte lines every 50 ms (slower on a loaded machine) into 1 KB files: a rotation every 8 lines.
        // Written to stdout, or to stderr (NAME.err.log, followed with --stderr).
        using var host = new ProgramsHost($$"""
            [program:ticker]
            command = sh -c 'i=0; while :; do i=$((i+1)); echo "$i $(date +%s%N) $(printf %0100d 0)" {{(stderr ? ">&2" : "")}}; sleep 0.05; done'
            log_max_bytes = 1KB
            log_backups = 50
            """);
        host.WaitForProgram("ticker", p => ProgramsHost.State(p) == "running", TimeSpan.FromSeconds(20), "running");
        var psi = new ProcessStartInfo(BelayBinaries.Belay) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in (string[])["logs", "ticker", .. stderr ? (string[])["--stderr"] : [], "-f", "-n", "1", "--prefix", host.Prefix, "--scope", "user"])
        {
            psi.ArgumentList.Add(arg);
        }
        using var follow = Process.Start(psi)!;
        var seen = new List<(long Number, TimeSpan Latency)>();
        var watch = Stopwatch.StartNew();
        try
        {
            while (watch.Elapsed < TimeSpan.FromSeconds(5))
            {
                var line = follow.StandardOutput.ReadLine();
                Assert.NotNull(line);
                var arrived = DateTimeOffset.UtcNow;
                var parts = line.Split(' ');
                var written = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(parts[1], CultureInfo.InvariantCulture) / 1_000_000);
                seen.Add((long.Parse(parts[0], CultureInfo.InvariantCulture), arrived - written));
            }
        }
        finally
        {
            follow.Kill();
        }
        Assert.True(seen.Count > 16, $"only {seen.Count} lines in 5 s");
        for (var i = 1; i < seen.Count; i++)
        {
            Assert.True(seen[i].Number == seen[i - 1].Number + 1, $"line {seen[i - 1].Number} was followed by {seen[i].Number}");
        }
        var worst = seen.Skip(1).Max(s => s.Latency); // the first line is the tail, printed at start
        Assert.True(worst < TimeSpan.FromSeconds(1), $"a line took {worst.TotalMilliseconds:0} ms to show");
        Assert.True(File.Exists(host.LogFile(stderr ? "ticker.err" : "ticker") + ".2"), "the log should have rotated several times meanwhile");
        Assert.False(File.Exists(host.LogFile(stderr ? "ticker" : "ticker.err") + ".1"), "the other stream's log should hold nothing to rotate");
    }
}
