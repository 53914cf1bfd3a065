using System.Globalization;

namespace Belay.Core.Cli;

/// <summary>
/// A download's progress on a terminal, as curl and rustup draw it: one line on standard error
/// rewritten in place, at most ten times a second, erased when the download ends so that the
/// next line of output starts clean. When standard error is not a terminal (a pipe, a log file,
/// a service's journal) there is no progress at all: logs keep one line per event.
/// </summary>
public sealed class TerminalProgress : IDisposable
{
    private static readonly TimeSpan Every = TimeSpan.FromMilliseconds(100);
    private readonly TextWriter _output;
    private readonly TimeProvider _clock;
    private DateTimeOffset _last = DateTimeOffset.MinValue;
    private int _drawn;

    public TerminalProgress(TextWriter output, TimeProvider clock)
    {
        _output = output ?? throw new ArgumentNullException(nameof(output));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
    }

    /// <summary>A progress line on standard error when it is a terminal, else null (nothing to draw).</summary>
    public static TerminalProgress? OnStandardError() =>
        Console.IsErrorRedirected || Environment.GetEnvironmentVariable("TERM") is "dumb" ? null : new TerminalProgress(Console.Error, TimeProvider.System);

    /// <summary>Draws <paramref name="bytes"/> of <paramref name="total"/> (throttled; the last one always).</summary>
    public void Report(long bytes, long total)
    {
        var now = _clock.GetUtcNow();
        if (bytes < total && now - _last < Every)
        {
            return;
        }
        _last = now;
        var line = Render(bytes, total);
        _output.Write("\r" + line.PadRight(_drawn));
        _output.Flush();
        _drawn = line.Length;
    }

    /// <summary>"  4.1 MiB of 4.3 MiB  95% [###################-]": pure, for the tests.</summary>
    public static string Render(long bytes, long total)
    {
        const int Width = 20;
        var fraction = total <= 0 ? 1.0 : Math.Clamp((double)bytes / total, 0, 1);
        var filled = (int)Math.Round(fraction * Width);
        return string.Create(CultureInfo.InvariantCulture,
            $"  {Size(bytes)} of {Size(total)} {fraction * 100,3:0}% [{new string('#', filled)}{new string('-', Width - filled)}]");
    }

    private static string Size(long bytes) => bytes switch
    {
        < 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.0} MiB"),
    };

    /// <summary>Erases the line, so the next output starts at column 0 on a clean line.</summary>
    public void Dispose()
    {
        if (_drawn > 0)
        {
            _output.Write("\r" + new string(' ', _drawn) + "\r");
            _output.Flush();
            _drawn = 0;
        }
    }
}
