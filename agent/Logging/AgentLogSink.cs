using System.Globalization;
using System.Text;
using Belay.Core.IO;
using Belay.Core.Programs;
using Serilog.Core;
using Serilog.Events;
using Serilog.Parsing;

namespace Belay.Agent.Logging;

/// <summary>
/// Where the agent's Serilog events go: one line each, to its standard output (the keeper's log,
/// or the service manager's journal) as <c>TIME agent LVL message</c> and to agent.log as
/// <c>TIME LVL message</c>, rotated by size like the programs' logs (agent.log.1 … .N).
/// Serilog stays the logging API (message templates, levels, structured properties); this
/// sink replaces Serilog.Sinks.Console and Serilog.Sinks.File, whose output-template engine,
/// theming and rolling machinery made up about a megabyte of the agent's executable and of its
/// resident memory (docs/architecture.md, "Footprint"). A line renders as those sinks did with
/// <c>{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} {Level:u3} {Message:lj}{NewLine}{Exception}</c>:
/// string properties bare, everything else in Serilog's own rendering.
/// </summary>
internal sealed class AgentLogSink : ILogEventSink, IDisposable
{
    public const long MaxBytes = 10 * 1024 * 1024;
    public const int Backups = 5;

    private readonly Lock _gate = new();
    private readonly Stream? _console;
    private readonly RotatingLog? _file;
    private readonly StringWriter _text = new(CultureInfo.InvariantCulture);

    /// <param name="file">agent.log, or null for standard output only.</param>
    /// <param name="console">Whether to write to standard output too.</param>
    public AgentLogSink(string? file, bool console)
    {
        _console = console ? Console.OpenStandardOutput() : null;
        _file = file is null ? null : new RotatingLog(file, MaxBytes, Backups);
    }

    public void Emit(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        lock (_gate)
        {
            var sb = _text.GetStringBuilder();
            sb.Clear();
            Render(logEvent, _text);
            var body = sb.ToString();
            var stamp = logEvent.Timestamp.ToString("yyyy-MM-ddTHH:mm:ss.fffzzz", CultureInfo.InvariantCulture);
            var level = Level(logEvent.Level);
            try
            {
                if (_console is not null)
                {
                    var line = Encoding.UTF8.GetBytes($"{stamp} agent {level} {body}");
                    if (OperatingSystem.IsWindows())
                    {
                        _console.Write(line);
                    }
                    else
                    {
                        // Standard output is keeper.log when the keeper owns one: each line whole or not at all,
                        // so that a full disk never leaves half a line for the next one to run into.
                        _ = PosixProcess.AppendLine(1, line);
                    }
                }
            }
            catch (IOException)
            {
                // A closed stdout must not stop the agent; agent.log still has the line.
            }
            try
            {
                _file?.Write(Encoding.UTF8.GetBytes($"{stamp} {level} {body}"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A full or read-only disk must not stop the agent; stdout still has the line.
            }
        }
    }

    /// <summary>The message with string properties bare (Serilog's <c>:l</c>), then a newline, then the exception if any.</summary>
    internal static void Render(LogEvent logEvent, TextWriter output)
    {
        foreach (var token in logEvent.MessageTemplate.Tokens)
        {
            if (token is PropertyToken property && logEvent.Properties.TryGetValue(property.PropertyName, out var value))
            {
                if (value is ScalarValue { Value: string s })
                {
                    output.Write(s);
                }
                else
                {
                    value.Render(output, property.Format, CultureInfo.InvariantCulture);
                }
            }
            else
            {
                token.Render(logEvent.Properties, output, CultureInfo.InvariantCulture);
            }
        }
        output.Write('\n');
        if (logEvent.Exception is { } e)
        {
            output.Write(e.ToString());
            output.Write('\n');
        }
    }

    private static string Level(LogEventLevel level) => level switch
    {
        LogEventLevel.Verbose => "VRB",
        LogEventLevel.Debug => "DBG",
        LogEventLevel.Information => "INF",
        LogEventLevel.Warning => "WRN",
        LogEventLevel.Error => "ERR",
        _ => "FTL",
    };

    public void Dispose()
    {
        lock (_gate)
        {
            _file?.Dispose();
            _console?.Dispose();
            _text.Dispose();
        }
    }
}
