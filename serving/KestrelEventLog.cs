using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Belay.Serving;

/// <summary>
/// Puts what Kestrel refuses on its own into the access log, in the same shape: a request it
/// could not parse or that broke a limit (400, 408, 414, 431, 505: Kestrel writes that answer
/// and closes), a connection closed at once because the connection limit was reached, a
/// client too slow to read its answer, and a failure of the application. Kestrel reports these
/// only through ILogger, by connection id, so this is an ILogger provider, plus a connection
/// middleware that remembers each open connection's remote address.
/// Everything else Kestrel and the host log is dropped: the access log is the only output.
/// </summary>
internal sealed class KestrelEventLog(Action<string> sink) : ILoggerProvider
{
    private const string KestrelCategory = "Microsoft.AspNetCore.Server.Kestrel";

    private readonly ConcurrentDictionary<string, EndPoint?> remotes = new(StringComparer.Ordinal);

    /// <summary>Remembers the remote address of each connection while it is open.</summary>
    public ConnectionDelegate Remember(ConnectionDelegate next) => async connection =>
    {
        remotes[connection.ConnectionId] = connection.RemoteEndPoint;
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            remotes.TryRemove(connection.ConnectionId, out _);
        }
    };

    /// <summary>Bad requests are logged by Kestrel at Debug, in their own category. From the
    /// rest of Kestrel only warnings and errors are wanted, so that the Debug events of every
    /// connection and request cost nothing; but Kestrel puts the offending text into its
    /// bad-request messages only when its general category is enabled at Information.</summary>
    public ILogger CreateLogger(string categoryName) =>
        categoryName == KestrelCategory + ".BadRequests" ? new Logger(this, LogLevel.Debug)
        : categoryName == KestrelCategory ? new Logger(this, LogLevel.Information)
        : categoryName.StartsWith(KestrelCategory, StringComparison.Ordinal) ? new Logger(this, LogLevel.Warning)
        : NullLogger.Instance;

    public void Dispose()
    {
    }

    /// <summary>Hands a line to the sink; a failing sink must not take a connection or the server down.</summary>
    public static void Emit(Action<string> sink, string line)
    {
        try
        {
            sink(line);
        }
#pragma warning disable CA1031 // the sink is the user's console or a test's queue; nothing to do if it fails
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private void Write(EventId id, Exception? exception, string message)
    {
        var connection = ConnectionIdOf(message);
        var remote = connection is not null && remotes.TryGetValue(connection, out var endPoint) && endPoint is not null
            ? endPoint.ToString()
            : "-";
        var line = id.Name switch
        {
            "ConnectionBadRequest" when exception is BadHttpRequestException bad =>
                $"{remote} \"-\" {bad.StatusCode} - - ({Printable(exception.Message)})",
            "ConnectionRejected" => "- \"-\" - - - (connection closed at once: the connection limit is reached)",
            "ResponseMinimumDataRateNotSatisfied" => $"{remote} \"-\" - - - (connection closed: the client read its answer too slowly)",
            _ => $"{remote} \"-\" - - - ({Printable(message)}{(exception is null ? "" : ": " + Printable(exception.Message))})",
        };
        Emit(sink, line);
    }

    /// <summary>The text with control and non-ASCII characters escaped as \xNN (\u{NNNN} past
    /// Latin-1): what a client sent goes into the log without being able to forge a line.</summary>
    public static string Printable(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.All(c => c is >= ' ' and < (char)0x7F))
        {
            return text;
        }
        var b = new System.Text.StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            if (c is >= ' ' and < (char)0x7F)
            {
                b.Append(c);
            }
            else if (c <= 0xFF)
            {
                b.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{(int)c:X2}");
            }
            else
            {
                b.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{{{(int)c:X4}}}");
            }
        }
        return b.ToString();
    }

    /// <summary>Kestrel's messages start with <c>Connection id "ID"</c>.</summary>
    private static string? ConnectionIdOf(string message)
    {
        const string Lead = "Connection id \"";
        if (!message.StartsWith(Lead, StringComparison.Ordinal))
        {
            return null;
        }
        var end = message.IndexOf('"', Lead.Length);
        return end < 0 ? null : message[Lead.Length..end];
    }

    private sealed class Logger(KestrelEventLog owner, LogLevel minimum) : ILogger
    {
        /// <summary>The events worth a line: bad requests (logged by Kestrel at Debug), the
        /// connection limit and slow readers, and anything at Error or above.</summary>
        private static bool Wanted(LogLevel level, EventId id) =>
            level >= LogLevel.Error || id.Name is "ConnectionBadRequest" or "ConnectionRejected" or "ResponseMinimumDataRateNotSatisfied";

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            if (Wanted(logLevel, eventId))
            {
                owner.Write(eventId, exception, formatter(state, exception));
            }
        }
    }

    private sealed class NullLogger : ILogger
    {
        public static readonly NullLogger Instance = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => false;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
        }
    }
}
