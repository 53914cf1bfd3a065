using System.Globalization;
using System.Text;
using Belay.Core.IO;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace Belay.Agent;

/// <summary>
/// The agent's lines on its standard output (keeper.log when the keeper owns one, else the service
/// manager's journal), each written whole or not at all (<see cref="PosixProcess.AppendLine"/>): on a
/// full disk a line is never left cut in the middle of keeper.log for the next one to run into.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class WholeLineSink(ITextFormatter formatter) : ILogEventSink
{
    private readonly Lock _gate = new();

    public void Emit(LogEvent logEvent)
    {
        using var text = new StringWriter(CultureInfo.InvariantCulture);
        formatter.Format(logEvent, text);
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        lock (_gate)
        {
            _ = PosixProcess.AppendLine(1, bytes);
        }
    }
}
