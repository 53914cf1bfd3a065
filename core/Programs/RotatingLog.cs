namespace Belay.Core.Programs;

/// <summary>
/// A program's log file with size-based rotation: NAME.log is renamed to NAME.log.1 (and
/// .1 to .2, up to log_backups; the oldest is deleted) when the next write would pass
/// log_max_bytes. A rotation falls on a line break when the chunk holds one, so that a
/// line is not split across two files. Bytes are copied as they come (no timestamps, no
/// re-encoding): what the program wrote is what the file holds, and a partial line left
/// by one agent is completed by the next. Unbuffered: `belay logs -f` sees a write at once.
/// </summary>
public sealed class RotatingLog : IDisposable
{
    private readonly string _path;
    private FileStream? _stream;
    private long _size;

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

    public void Write(ReadOnlySpan<byte> data)
    {
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
            Append(data[..take]);
            data = data[take..];
            Rotate();
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

    public void Dispose() => _stream?.Dispose();
}
