using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Belay.Bench;

/// <summary>A program's write throughput with no live log open and with a throttled one, side by side (MB/s per burst), and what the slow reader was told it missed.</summary>
internal sealed record ThroughputFigures(int Lines, long BurstBytes, IReadOnlyList<double> WithoutMbps, IReadOnlyList<double> WithMbps,
    int ReaderBytesPerSecond, long ReaderBytes, long SkippedBytes, string? NotMeasured);

/// <summary>
/// Does a slow reader of the hub's live log slow the program down (DESIGN.md: without credit the
/// agent drops lines and says so, so a slow reader never blocks a program)? The enrolled
/// installation's <c>burst</c> program writes <see cref="Lines"/> lines as fast as it can when
/// told to, timing itself (<c>date +%s%N</c> before and after, so the figure is the program's own
/// write throughput into its pipe, which the agent's log pump drains). Bursts alternate between no
/// live log open and one open whose reader takes 50 kB/s (its socket's receive buffer kept small
/// so that the throttle is felt at once), in the order A B, B A, A B, …; medians side by side.
/// </summary>
internal static class HubThroughput
{
    public const int LineBytes = 55; // "burst line 0000001 with some padding to make it longer\n"
    private const int ReaderBytesPerSecond = 50_000;

    /// <summary>The programs.conf entry: waits for FOLDER/go, then writes the burst and appends "start end" (ns) to FOLDER/times.</summary>
    public static string Program(string folder, int lines) =>
        "[program:burst]\ncommand = sh -c 'while :; do if [ -f " + folder + "/go ]; then rm -f " + folder + "/go; s=$(date +%s%N); " +
        "seq -f \"burst line %07.0f with some padding to make it longer\" 1 " + lines.ToString(CultureInfo.InvariantCulture) +
        "; e=$(date +%s%N); echo \"$s $e\" >> " + folder + "/times; fi; sleep 0.2; done'\n";

    public static ThroughputFigures Measure(string url, string apiToken, string hostId, string folder, int lines, int rounds)
    {
        var without = new List<double>();
        var with = new List<double>();
        long readerBytes = 0, skipped = 0;
        for (var round = 0; round < rounds; round++)
        {
            // Alternating which goes first (A B, B A, A B, …), so that a machine whose load drifts favours neither.
            if (round % 2 == 0)
            {
                without.Add(Burst(folder, lines));
            }
            using var stop = new CancellationTokenSource();
            var opened = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var reader = SlowReadAsync(url, apiToken, hostId, opened, stop.Token);
            if (Task.WhenAny(opened.Task, reader, Task.Delay(TimeSpan.FromSeconds(30))).Result != opened.Task)
            {
                stop.Cancel();
                return new ThroughputFigures(lines, (long)lines * LineBytes, without, with, ReaderBytesPerSecond, readerBytes, skipped,
                    "the throttled live log did not open within 30 s");
            }
            with.Add(Burst(folder, lines));
            Thread.Sleep(2000); // the skips of the burst's end reach the reader
            stop.Cancel();
            var (read, skip) = reader.Result;
            readerBytes += read;
            skipped += skip;
            Thread.Sleep(3000); // the hub frees the stream once its reader is gone
            if (round % 2 == 1)
            {
                without.Add(Burst(folder, lines));
            }
        }
        return new ThroughputFigures(lines, (long)lines * LineBytes, without, with, ReaderBytesPerSecond, readerBytes, skipped, null);
    }

    /// <summary>One burst: MB/s as the program timed itself.</summary>
    private static double Burst(string folder, int lines)
    {
        var times = Path.Combine(folder, "times");
        var before = File.Exists(times) ? File.ReadAllLines(times).Length : 0;
        File.WriteAllText(Path.Combine(folder, "go"), "");
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromMinutes(3))
        {
            var all = File.Exists(times) ? File.ReadAllLines(times) : [];
            if (all.Length > before)
            {
                var parts = all[before].Split(' ');
                var seconds = (long.Parse(parts[1], CultureInfo.InvariantCulture) - long.Parse(parts[0], CultureInfo.InvariantCulture)) / 1e9;
                return (double)lines * LineBytes / 1e6 / seconds;
            }
            Thread.Sleep(100);
        }
        throw new InvalidOperationException($"the burst program did not write {lines:N0} lines within 3 minutes");
    }

    /// <summary>Reads the burst program's live log at <see cref="ReaderBytesPerSecond"/>: (bytes read, bytes the hub said were skipped).</summary>
    private static async Task<(long Read, long Skipped)> SlowReadAsync(string url, string apiToken, string hostId, TaskCompletionSource opened, CancellationToken stop)
    {
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancel) =>
            {
                // A small, fixed receive buffer (no autotuning): the kernel does not read megabytes ahead of the throttled reader.
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 32 * 1024 };
                await socket.ConnectAsync(context.DnsEndPoint, cancel);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        using var http = new HttpClient(handler) { BaseAddress = new Uri(url), Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiToken);
        long read = 0, skipped = 0;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"api/v1/hosts/{hostId}/logs/burst?stream=stdout&lines=0");
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop);
            await using var stream = await response.Content.ReadAsStreamAsync(stop);
            var decoder = Encoding.UTF8.GetDecoder();
            var buffer = new byte[4096];
            var chars = new char[4096];
            var line = new StringBuilder();
            var skipNext = false;
            var watch = Stopwatch.StartNew();
            while (true)
            {
                var n = await stream.ReadAsync(buffer, stop);
                if (n == 0)
                {
                    break;
                }
                read += n;
                var count = decoder.GetChars(buffer, 0, n, chars, 0);
                for (var i = 0; i < count; i++)
                {
                    if (chars[i] != '\n')
                    {
                        line.Append(chars[i]);
                        continue;
                    }
                    var text = line.ToString();
                    line.Clear();
                    if (text == "event: tail")
                    {
                        opened.TrySetResult();
                    }
                    else if (text == "event: skip")
                    {
                        skipNext = true;
                    }
                    else if (skipNext && text.StartsWith("data: ", StringComparison.Ordinal))
                    {
                        skipNext = false;
                        using var doc = JsonDocument.Parse(text["data: ".Length..]);
                        skipped += doc.RootElement.GetProperty("n").GetInt64();
                    }
                }
                var ahead = read / (double)ReaderBytesPerSecond - watch.Elapsed.TotalSeconds;
                if (ahead > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds(ahead), stop);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or HttpRequestException or IOException)
        {
        }
        return (read, skipped);
    }
}
