using System.Text;
using Belay.Core.IO;

namespace Belay.Keeper;

/// <summary>
/// Where the keeper's lines go. By default its standard output (a service manager's journal
/// takes it: systemd, SMF). With `belay run --log FILE` (what the detached keeper of the none
/// manager is started with) the keeper owns FILE: it opens it for appending onto its own
/// stdout and stderr, so that the agent it starts inherits it and a crash's output lands
/// there too, and when FILE passes <see cref="MaxBytes"/> it renames it to FILE.1 (FILE.1 to
/// FILE.2, …, <see cref="Backups"/> kept) and opens a new one. It checks the size at each of
/// its own lines and once a minute (the agent writes into the same file). An agent already
/// running keeps writing into the file it inherited (FILE.1 after a rotation) until its next
/// start: the agent's own agent.log is rolled by the agent.
/// </summary>
internal static class KeeperLog
{
    public const long MaxBytes = 10 * 1024 * 1024;
    public const int Backups = 3;

    private static readonly Lock Gate = new();
    private static string? _path;
    private static Timer? _timer;

    /// <summary>Lines not written since the last one that was (a full disk), and why.</summary>
    private static int _dropped;
    private static string _dropReason = "";

    /// <summary>The file the keeper writes to, when it owns one.</summary>
    public static string? Path => _path;

    /// <summary>Makes <paramref name="path"/> the keeper's stdout and stderr, rotated by size (Unix).</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public static void Open(string path)
    {
        lock (Gate)
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
            _path = System.IO.Path.GetFullPath(path);
            Reopen();
            RotateIfFull();
            _timer ??= new Timer(_ => Check(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        }
    }

    public static void WriteLine(string line)
    {
        if (_path is null || OperatingSystem.IsWindows())
        {
            Console.Out.WriteLine(line);
            return;
        }
        lock (Gate)
        {
            // A whole line or none: on a full disk a line is not cut in the middle (the next would run into
            // it); the lines lost are counted and said once there is room again.
            if (_dropped > 0 && PosixProcess.AppendLine(1, Encoding.UTF8.GetBytes(
                $"{line[..Math.Min(line.Length, 29)]} keeper {_dropped} line(s) of this log were not written: {_dropReason}\n")) == 0)
            {
                _dropped = 0;
            }
            if (PosixProcess.AppendLine(1, Encoding.UTF8.GetBytes(line + "\n")) is var errno and not 0)
            {
                _dropped++;
                _dropReason = errno == 28 ? "no space left on device" : $"errno {errno}";
            }
            try
            {
                RotateIfFull();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A full disk cannot take the rotation's new file either: tried again at the next line.
            }
        }
    }


    private static void Check()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        lock (Gate)
        {
            try
            {
                RotateIfFull();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Tried again in a minute; the lines still go to the current file.
            }
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void RotateIfFull()
    {
        if (_path is null || !File.Exists(_path) || new FileInfo(_path).Length < MaxBytes)
        {
            return;
        }
        for (var i = Backups - 1; i >= 1; i--)
        {
            if (File.Exists($"{_path}.{i}"))
            {
                File.Move($"{_path}.{i}", $"{_path}.{i + 1}", overwrite: true);
            }
        }
        File.Move(_path, $"{_path}.1", overwrite: true);
        Reopen();
    }

    /// <summary>Opens the file (creating it 0640) and puts it on stdout and stderr.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void Reopen()
    {
        using var file = new FileStream(_path!, new FileStreamOptions
        {
            Mode = FileMode.Append,
            Access = FileAccess.Write,
            Share = FileShare.ReadWrite | FileShare.Delete,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead,
        });
        var fd = (int)file.SafeFileHandle.DangerousGetHandle();
        if (PosixProcess.Redirect(fd, 1) != 0 || PosixProcess.Redirect(fd, 2) != 0)
        {
            throw new IOException($"cannot put {_path} on the keeper's stdout and stderr (errno {PosixProcess.LastError})");
        }
    }
}
