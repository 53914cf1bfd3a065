using System.Text;
using Belay.Core.IO;

namespace Belay.Core.Programs;

/// <summary>
/// Where `belay logs` merges several logs into one output, as `docker compose logs` does: each
/// complete line goes out whole, behind its log's name ("web    | listening on :8080"). A
/// partial line waits for its end (or for <see cref="Dispose(bool)"/>), so two programs writing
/// at once never interleave inside a line. One instance per log; all of them share one
/// output and one lock.
/// </summary>
public sealed class LinePrefixStream : WriteOnlyStream
{
    private readonly Stream _output;
    private readonly SemaphoreSlim _outputLock;
    private readonly byte[] _prefix;
    private readonly MemoryStream _pending = new();

    public LinePrefixStream(Stream output, SemaphoreSlim outputLock, string prefix)
    {
        _output = output ?? throw new ArgumentNullException(nameof(output));
        _outputLock = outputLock ?? throw new ArgumentNullException(nameof(outputLock));
        _prefix = Encoding.UTF8.GetBytes(prefix);
    }

    /// <summary>"name | " padded so that the bars of every log line up.</summary>
    public static string PrefixFor(string name, int width) => name.PadRight(width) + " | ";

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        using var lines = new MemoryStream();
        var rest = buffer;
        int newline;
        while ((newline = rest.Span.IndexOf((byte)'\n')) >= 0)
        {
            lines.Write(_prefix);
            if (_pending.Length > 0)
            {
                _pending.WriteTo(lines);
                _pending.SetLength(0);
            }
            lines.Write(rest.Span[..(newline + 1)]);
            rest = rest[(newline + 1)..];
        }
        _pending.Write(rest.Span);
        if (lines.Length > 0)
        {
            await EmitAsync(lines, cancellationToken).ConfigureAwait(false);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Writes a partial last line (with a newline added), as at the end of a log that does not end in one.</summary>
    public async Task FinishAsync(CancellationToken cancellationToken)
    {
        if (_pending.Length == 0)
        {
            return;
        }
        using var line = new MemoryStream();
        line.Write(_prefix);
        _pending.WriteTo(line);
        line.WriteByte((byte)'\n');
        _pending.SetLength(0);
        await EmitAsync(line, cancellationToken).ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _pending.Dispose();
        }
        base.Dispose(disposing);
    }

    private async Task EmitAsync(MemoryStream lines, CancellationToken cancellationToken)
    {
        await _outputLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lines.Position = 0;
            await lines.CopyToAsync(_output, cancellationToken).ConfigureAwait(false);
            await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _outputLock.Release();
        }
    }
}
