using System.Buffers;
using System.Globalization;
using System.Text;

namespace Belay.Core.Deploy;

/// <summary>
/// A hook's output as both hook runners read it (stdout and stderr on one pipe): split into lines (a line
/// longer than 64 KiB is cut there), each line with every secret value replaced by *** before it reaches
/// the deploy log (when the run logs) and the kept tail (the last 4 KiB, <see cref="OutputTail"/>).
/// </summary>
internal sealed class HookOutput(IDeployLog log, HookRun run)
{
    /// <summary>Secret values shorter than this are not redacted (they would garble every line; such a secret protects nothing).</summary>
    public const int MinRedactedLength = 4;

    private const int MaxLine = 64 * 1024;

    private readonly string[] _redact = [.. run.Redact.Where(v => v.Length >= MinRedactedLength).OrderByDescending(v => v.Length)];
    private readonly ArrayBufferWriter<byte> _line = new();
    private readonly StringBuilder _tail = new();

    /// <summary>The hook's command line as the log shows it (secrets redacted).</summary>
    public string Shown => Redact(string.Join(' ', run.Command), _redact);

    /// <summary>Takes the bytes of one read; every complete line is emitted.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        var start = 0;
        for (var i = 0; i < data.Length; i++)
        {
            if (data[i] == (byte)'\n' || _line.WrittenCount + (i - start) >= MaxLine)
            {
                _line.Write(data[start..(i + 1)]);
                Emit();
                start = i + 1;
            }
        }
        _line.Write(data[start..]);
    }

    /// <summary>The output ended: an unfinished last line is emitted with a newline.</summary>
    public void Finish()
    {
        if (_line.WrittenCount > 0)
        {
            _line.Write("\n"u8);
            Emit();
        }
    }

    /// <summary>The last 4 KiB emitted so far.</summary>
    public string Tail()
    {
        lock (_tail)
        {
            return OutputTail.Keep(_tail.ToString());
        }
    }

    private void Emit()
    {
        var text = Redact(Encoding.UTF8.GetString(_line.WrittenSpan), _redact);
        _line.ResetWrittenCount();
        if (run.Log)
        {
            log.Output(run.App, text);
        }
        lock (_tail)
        {
            _tail.Append(text);
            if (_tail.Length > 4 * OutputTail.MaxBytes)
            {
                _tail.Remove(0, _tail.Length - OutputTail.MaxBytes);
            }
        }
    }

    /// <summary><paramref name="text"/> with every value of <paramref name="secrets"/> (longest first) replaced by ***.</summary>
    public static string Redact(string text, IReadOnlyList<string> secrets)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(secrets);
        foreach (var secret in secrets.OrderByDescending(s => s.Length))
        {
            if (secret.Length >= MinRedactedLength)
            {
                text = text.Replace(secret, Programs.Secrets.Mask, StringComparison.Ordinal);
            }
        }
        return text;
    }

    public static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
}
