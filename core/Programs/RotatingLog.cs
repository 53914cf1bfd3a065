namespace Belay.Core.Programs;

/// <summary>
/// A program's log file with size-based rotation: NAME.log is renamed to NAME.log.1 (and
/// .1 to .2, up to log_backups; the oldest is deleted) when the next write would pass
/// log_max_bytes. A rotation falls on a line break, so that a line is not split across two
/// files: a chunk's unfinished last line (a pipe read ends wherever it ends) is held back
/// until its line break arrives, or until <see cref="FlushPending"/> writes it (the pump
/// does so once it has waited <see cref="PendingAge"/>, so a prompt without a newline still
/// shows). Bytes are copied as they come (no timestamps, no re-encoding): what the program
/// wrote is what the files hold, and a partial line left by one agent is completed by the
/// next. Complete lines are written unbuffered: `belay logs -f` sees them at once.
/// </summary>
public sealed class RotatingLog : IDisposable
{
    private readonly string _path;
    private FileStream? _stream;
    private long _size;
    private byte[]? _pending;
    private int _pendingLength;
    private long _pendingSince;

    /// <summary>The longest unfinished line held back; a longer one is written as it comes.</summary>
    public const int PendingLimit = 64 * 1024;

    /// <summary>How long an unfinished line is held back before <see cref="FlushPending"/> should write it.</summary>
    public static readonly TimeSpan PendingAge = TimeSpan.FromMilliseconds(200);

    public RotatingLog(string path, long maxBytes, int backups)
    {
        _path = path;
        MaxBytes = maxBytes;
        Backups = backups;
        _stream = Open(path);
        _size = _stream.Length;
    }

    public long MaxBytes { get; set; }
    public int Backups { get; set; }

    /// <summary>Total bytes written through this instance (for tests and status).</summary>
    public long Written { get; private set; }

    /// <summary>When the held-back unfinished line arrived (<see cref="Environment.TickCount64"/>), or null if there is none.</summary>
    public long? PendingSince => _pendingLength > 0 ? _pendingSince : null;

    public void Write(ReadOnlySpan<byte> data)
    {
        if (_pendingLength > 0)
        {
            var newline = data.IndexOf((byte)'\n');
            var upTo = newline < 0 ? data.Length : newline + 1;
            if (_pendingLength + upTo <= PendingLimit)
            {
                Hold(_pendingLength + upTo);
                data[..upTo].CopyTo(_pending.AsSpan(_pendingLength));
                _pendingLength += upTo;
                data = data[upTo..];
                if (newline < 0)
                {
                    return; // still unfinished
                }
            }
            else
            {
                // Too long to hold: write what is held and this piece of the same line as they come.
                FlushPending();
                WriteThrough(data[..upTo]);
                data = data[upTo..];
                if (newline < 0)
                {
                    return;
                }
            }
            FlushPending(); // the finished line (nothing, if it was written above)
        }
        var end = data.LastIndexOf((byte)'\n') + 1;
        var tail = data.Length - end;
        if (tail > 0 && tail <= PendingLimit)
        {
            Hold(tail);
            data[end..].CopyTo(_pending);
            _pendingLength = tail;
            _pendingSince = Environment.TickCount64;
            data = data[..end];
        }
        WriteThrough(data);
    }

    /// <summary>Grows the hold (it starts small: most programs' lines are short) to at least <paramref name="length"/> bytes.</summary>
    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(_pending))]
    private void Hold(int length)
    {
        if (_pending is null || _pending.Length < length)
        {
            var grown = new byte[Math.Min(PendingLimit, Math.Max(length, Math.Max(1024, (_pending?.Length ?? 0) * 2)))];
            _pending.AsSpan(0, _pendingLength).CopyTo(grown);
            _pending = grown;
        }
    }

    /// <summary>Writes the held-back unfinished line, if any.</summary>
    public void FlushPending()
    {
        if (_pendingLength > 0)
        {
            var length = _pendingLength;
            _pendingLength = 0;
            WriteThrough(_pending.AsSpan(0, length));
        }
    }

    private void WriteThrough(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }
        if (_stream is null)
        {
            // A rotation could not open the new file (disk full, permissions): try again now.
            _stream = Open(_path);
            _size = _stream.Length;
        }
        while (!data.IsEmpty)
        {
            var room = MaxBytes - _size;
            if (data.Length <= room)
            {
                Append(data);
                return;
            }
            var take = 0;
            if (room > 0)
            {
                take = data[..(int)room].LastIndexOf((byte)'\n') + 1;
                if (take == 0 && _size == 0)
                {
                    take = (int)room; // one line longer than the whole file: cut it
                }
            }
            else if (_size == 0)
            {
                take = data.Length; // log_max_bytes 0: no limit to keep
            }
            Append(data[..take]);
            data = data[take..];
            if (!data.IsEmpty)
            {
                Rotate();
            }
        }
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }
        _stream!.Write(data);
        _size += data.Length;
        Written += data.Length;
    }

    private void Rotate()
    {
        _stream?.Dispose();
        _stream = null;
        if (Backups <= 0)
        {
            File.Delete(_path);
        }
        else
        {
            File.Delete($"{_path}.{Backups}");
            for (var i = Backups - 1; i >= 1; i--)
            {
                if (File.Exists($"{_path}.{i}"))
                {
                    File.Move($"{_path}.{i}", $"{_path}.{i + 1}", overwrite: true);
                }
            }
            File.Move(_path, $"{_path}.1", overwrite: true);
        }
        _stream = Open(_path);
        _size = 0;
    }

    private static FileStream Open(string path)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.Append,
            Access = FileAccess.Write,
            Share = FileShare.ReadWrite | FileShare.Delete,
            BufferSize = 0,
        };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
        }
        return new FileStream(path, options);
    }

    /// <summary>Writes the held-back unfinished line (the next writer completes it) and closes the file.</summary>
    public void Dispose()
    {
        try
        {
            FlushPending();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The file cannot take it (disk full, permissions): the unfinished line is lost with the write.
        }
        finally
        {
            _stream?.Dispose();
        }
    }
}
