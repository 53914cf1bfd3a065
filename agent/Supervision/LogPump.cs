using Belay.Core.IO;
using Belay.Core.Programs;
using Serilog;

namespace Belay.Agent.Supervision;

/// <summary>
/// One thread that copies every program's FIFO into its rotating log: poll(2) over all
/// FIFOs and a wake pipe, so a silent program costs nothing and a chatty one is read in
/// 64 KiB chunks as soon as it writes (at most 1 MiB per program per round, so that one
/// cannot starve the others). A chunk read is written before the next read (its unfinished
/// last line is held back for up to <see cref="RotatingLog.PendingAge"/> so that a rotation
/// never splits a line, and written when the pump stops), so stopping the thread between
/// rounds loses nothing: unread bytes wait in the pipe for the next agent. The agent opens each FIFO read-write, so it never sees EOF or POLLHUP.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class LogPump : IDisposable
{
    private const int Chunk = 64 * 1024;
    private const int MaxPerRound = 16;

    private readonly ILogger _log;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Source> _sources = new(StringComparer.Ordinal);
    private readonly (int Read, int Write) _wake;
    private readonly Thread _thread;
    private volatile bool _stopping;

    public LogPump(ILogger log)
    {
        _log = log;
        _wake = PosixProcess.WakePipe();
        _thread = new Thread(Run) { IsBackground = true, Name = "log-pump" };
        _thread.Start();
    }

    /// <summary>Starts (or keeps) copying <paramref name="fifo"/> into <paramref name="logFile"/>.</summary>
    public void Add(string name, string fifo, string logFile, long maxBytes, int backups)
    {
        lock (_lock)
        {
            if (_sources.TryGetValue(name, out var existing))
            {
                if (!existing.Removed)
                {
                    existing.Log.MaxBytes = maxBytes;
                    existing.Log.Backups = backups;
                    return;
                }
                // Removed and added again before the thread closed it: close it here (under the lock the thread reads with).
                PosixProcess.Close(existing.Fd);
                existing.Log.Dispose();
                _sources.Remove(name);
            }
            PosixProcess.MakeFifo(fifo);
            var fd = PosixProcess.OpenFifoNonBlocking(fifo);
            _sources[name] = new Source(fd, new RotatingLog(logFile, maxBytes, backups));
        }
        Wake();
    }

    /// <summary>Stops copying (the thread drains what is there, then closes).</summary>
    public void Remove(string name)
    {
        lock (_lock)
        {
            if (_sources.TryGetValue(name, out var source))
            {
                source.Removed = true;
            }
        }
        Wake();
    }

    private void Wake() => PosixProcess.WriteByte(_wake.Write, 1);

    private void Run()
    {
        while (!_stopping)
        {
            try
            {
                Pump();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException or InvalidOperationException)
            {
                _log.Error("log pump: {Error}", SystemErrors.Describe(e));
                Thread.Sleep(100);
            }
        }
    }

    private void Pump()
    {
        var buffer = new byte[Chunk];
        var fds = new List<int>();
        var names = new List<string>();
        while (!_stopping)
        {
            fds.Clear();
            names.Clear();
            fds.Add(_wake.Read);
            var timeout = -1;
            lock (_lock)
            {
                foreach (var (name, source) in _sources.ToList())
                {
                    if (source.Removed)
                    {
                        Drain(name, source, buffer, 256);
                        PosixProcess.Close(source.Fd);
                        source.Log.Dispose();
                        _sources.Remove(name);
                        continue;
                    }
                    fds.Add(source.Fd);
                    names.Add(name);
                    if (source.Log.PendingSince is { } since)
                    {
                        var wait = (int)Math.Clamp(since + (long)RotatingLog.PendingAge.TotalMilliseconds - Environment.TickCount64, 0, int.MaxValue);
                        timeout = timeout < 0 ? wait : Math.Min(timeout, wait);
                    }
                }
            }
            var ready = new bool[fds.Count];
            if (PosixProcess.PollReadable(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(fds), ready, timeout) < 0)
            {
                Thread.Sleep(10); // EINTR
                continue;
            }
            if (ready[0])
            {
                while (PosixProcess.ReadAvailable(_wake.Read, buffer) > 0)
                {
                }
            }
            lock (_lock)
            {
                for (var i = 1; i < fds.Count; i++)
                {
                    if (ready[i] && _sources.TryGetValue(names[i - 1], out var source) && !source.Removed)
                    {
                        Drain(names[i - 1], source, buffer, MaxPerRound);
                    }
                }
                if (timeout >= 0)
                {
                    FlushOldPending();
                }
            }
        }
    }

    /// <summary>Writes each unfinished line that has waited <see cref="RotatingLog.PendingAge"/> for its line break.</summary>
    private void FlushOldPending()
    {
        var now = Environment.TickCount64;
        foreach (var (name, source) in _sources)
        {
            if (source.Log.PendingSince is { } since && now - since >= (long)RotatingLog.PendingAge.TotalMilliseconds)
            {
                Write(name, source, default, flush: true);
            }
        }
    }

    private void Drain(string name, Source source, byte[] buffer, int maxChunks)
    {
        for (var round = 0; round < maxChunks; round++)
        {
            var n = PosixProcess.ReadAvailable(source.Fd, buffer);
            if (n <= 0)
            {
                return;
            }
            Write(name, source, buffer.AsSpan(0, n), flush: false);
        }
    }

    private void Write(string name, Source source, ReadOnlySpan<byte> data, bool flush)
    {
        try
        {
            if (flush)
            {
                source.Log.FlushPending();
            }
            else
            {
                source.Log.Write(data);
            }
            source.Failing = false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (!source.Failing)
            {
                _log.Error("cannot write the log of {Program}: {Error}; its output is dropped until writing works again", name, SystemErrors.Describe(e));
            }
            source.Failing = true;
        }
    }

    /// <summary>Stops the thread after its current round; unread output stays in the FIFOs for the next agent.</summary>
    public void Dispose()
    {
        _stopping = true;
        Wake();
        _thread.Join();
        lock (_lock)
        {
            foreach (var source in _sources.Values)
            {
                PosixProcess.Close(source.Fd);
                source.Log.Dispose();
            }
            _sources.Clear();
        }
        PosixProcess.Close(_wake.Read);
        PosixProcess.Close(_wake.Write);
    }

    private sealed class Source(int fd, RotatingLog log)
    {
        public int Fd { get; } = fd;
        public RotatingLog Log { get; } = log;
        public bool Removed { get; set; }
        public bool Failing { get; set; }
    }
}
