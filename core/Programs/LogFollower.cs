using System.Runtime.InteropServices;

namespace Belay.Core.Programs;

/// <summary>
/// `belay logs NAME [-n N] [-f]`: prints the last lines of a log, then (with -f) follows it
/// until cancelled, across rotations: when the file at the path is no longer the one it
/// holds open (another inode, or another path for Serilog's numbered files), it drains the
/// old one to its end and goes on at the start of the new one, so a line written just
/// before a rotation is not lost. It polls every 100 ms: one stat per tick, no watcher.
/// </summary>
public static partial class LogFollower
{
    public static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(100);

    public static async Task RunAsync(Func<string?> currentPath, int lines, bool follow, Stream output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(currentPath);
        ArgumentNullException.ThrowIfNull(output);
        var path = currentPath();
        FileStream? stream = null;
        long identity = 0;
        try
        {
            if (path is not null && TryOpen(path) is { } first)
            {
                // The tail and the follow come from one open file, up to one length taken once: a line
                // written (or a rotation done) between printing the tail and following is not skipped.
                stream = first;
                identity = Identity(stream);
                var end = stream.Length;
                var tail = Tail(stream, lines, end);
                await output.WriteAsync(tail, cancellationToken).ConfigureAwait(false);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                stream.Seek(end, SeekOrigin.Begin);
            }
            if (!follow)
            {
                return;
            }
            var buffer = new byte[64 * 1024];
            while (!cancellationToken.IsCancellationRequested)
            {
                var wrote = false;
                if (stream is not null)
                {
                    int n;
                    while ((n = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                    {
                        await output.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                        wrote = true;
                    }
                }
                if (wrote)
                {
                    await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
                var now = currentPath();
                if (now is not null && TryOpen(now) is { } candidate)
                {
                    // The identity of the file actually opened (fstat), so that a rotation between a stat and an open is not missed.
                    var id = Identity(candidate);
                    if (stream is null || now != path || (id != 0 && id != identity))
                    {
                        // Rotated (or created): drain the old file (the writer may have appended after the read
                        // above), then any files rotated in between, then read the new one from its start.
                        if (stream is not null)
                        {
                            int rest;
                            while ((rest = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                            {
                                await output.WriteAsync(buffer.AsMemory(0, rest), cancellationToken).ConfigureAwait(false);
                            }
                            await stream.DisposeAsync().ConfigureAwait(false);
                            if (now == path && identity != 0)
                            {
                                var between = RotatedSince(path, identity, id);
                                try
                                {
                                    foreach (var file in between)
                                    {
                                        await file.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
                                    }
                                }
                                finally
                                {
                                    foreach (var file in between)
                                    {
                                        await file.DisposeAsync().ConfigureAwait(false);
                                    }
                                }
                            }
                            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                        }
                        path = now;
                        stream = candidate;
                        identity = id;
                        continue;
                    }
                    await candidate.DisposeAsync().ConfigureAwait(false);
                    if (stream.Length < stream.Position)
                    {
                        stream.Seek(0, SeekOrigin.Begin); // truncated in place
                    }
                }
                await Task.Delay(PollEvery, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            if (stream is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The files rotated after the one with <paramref name="identity"/> and before <paramref name="next"/>
    /// (already open), oldest first, opened. The scan opens NAME.log.1, .2, ... upwards and identifies each
    /// file by the descriptor it opened (fstat), so a rotation during the scan (which moves every file one
    /// index up, towards the part not scanned yet) shows a file twice, never hides one; duplicates are
    /// dropped. Files that are not needed are closed before returning.
    /// </summary>
    private static List<FileStream> RotatedSince(string path, long identity, long next)
    {
        var seen = new List<(long Id, FileStream Stream)>();
        var found = false;
        for (var k = 1; k <= 1000; k++)
        {
            if (TryOpen($"{path}.{k}") is not { } file)
            {
                break;
            }
            var id = Identity(file);
            if (id == 0 || seen.Exists(s => s.Id == id))
            {
                file.Dispose();
                continue;
            }
            seen.Add((id, file));
            if (id == identity)
            {
                found = true;
                break;
            }
        }
        var result = new List<FileStream>();
        if (found)
        {
            // seen: newest first, ending with the old file itself; keep those older than next and newer than old.
            var newer = seen.Take(seen.Count - 1).ToList();
            var start = newer.FindIndex(s => s.Id == next) + 1;
            result.AddRange(newer.Skip(start).Reverse().Select(s => s.Stream));
        }
        foreach (var (_, stream) in seen)
        {
            if (!result.Contains(stream))
            {
                stream.Dispose();
            }
        }
        return result;
    }

    private static FileStream? TryOpen(string path)
    {
        try
        {
            return OpenShared(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The last <paramref name="lines"/> lines of a file (all of a final line without a line break).</summary>
    public static byte[] Tail(string path, int lines)
    {
        using var stream = OpenShared(path);
        return Tail(stream, lines, stream.Length);
    }

    /// <summary>The last <paramref name="lines"/> lines of the first <paramref name="end"/> bytes of an open file.</summary>
    private static byte[] Tail(FileStream stream, int lines, long end)
    {
        if (lines <= 0 || end == 0)
        {
            return [];
        }
        const int block = 64 * 1024;
        var position = end;
        var found = 0;
        var buffer = new byte[block];
        // A final line break ends the last line; it does not start another.
        var skipLast = true;
        while (position > 0)
        {
            var size = (int)Math.Min(block, position);
            position -= size;
            stream.Seek(position, SeekOrigin.Begin);
            stream.ReadExactly(buffer, 0, size);
            for (var i = size - 1; i >= 0; i--)
            {
                if (buffer[i] != '\n')
                {
                    continue;
                }
                if (skipLast && position + i == end - 1)
                {
                    continue;
                }
                if (++found == lines)
                {
                    return Read(stream, position + i + 1, end);
                }
            }
            skipLast = false;
        }
        return Read(stream, 0, end);
    }

    private static byte[] Read(FileStream stream, long from, long to)
    {
        var bytes = new byte[to - from];
        stream.Seek(from, SeekOrigin.Begin);
        stream.ReadExactly(bytes);
        return bytes;
    }

    private static FileStream OpenShared(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 4096, FileOptions.None);

    /// <summary>The file's inode (st_ino sits at offset 8 of struct stat on Linux x64/arm64 and macOS); 0 when unknown.</summary>
    private static unsafe long Identity(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return 0;
        }
        var buffer = stackalloc byte[512];
        try
        {
            return Stat(path, buffer) == 0 ? *(long*)(buffer + 8) : 0;
        }
        catch (EntryPointNotFoundException)
        {
            return 0; // a libc older than 2.33 has no stat symbol; rotation is then seen by the path only
        }
    }

    private static unsafe long Identity(FileStream stream)
    {
        if (OperatingSystem.IsWindows())
        {
            return 0;
        }
        var buffer = stackalloc byte[512];
        try
        {
            return FStat((int)stream.SafeFileHandle.DangerousGetHandle(), buffer) == 0 ? *(long*)(buffer + 8) : 0;
        }
        catch (EntryPointNotFoundException)
        {
            return 0;
        }
    }

    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Stat(string path, byte* buffer);

    [LibraryImport("libc", EntryPoint = "fstat")]
    private static unsafe partial int FStat(int fd, byte* buffer);
}
