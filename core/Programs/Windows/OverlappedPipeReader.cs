using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Belay.Core.Programs.Windows;

/// <summary>
/// Reads the read end of a program's output pipe on the calling thread until every writer is gone or
/// <see cref="Stop"/> is called, and not a byte further: a stop cancels the read in flight (CancelIoEx),
/// and bytes that read had already taken are still handed over, so what is left stays in the pipe for
/// the next reader (the next agent, after a hand-over). Each read waits on an event whose low bit is set,
/// so no completion goes to an I/O completion port: the pipe may be bound to the port of the agent that
/// started the program (which no longer runs), and a handle can be bound to one port only, for good.
/// </summary>
[SupportedOSPlatform("windows")]
public sealed unsafe partial class OverlappedPipeReader(nint pipe)
{
    private const int ErrorIoPending = 997;
    private const int ErrorOperationAborted = 995;
    private const int ErrorMoreData = 234;
    private const int ErrorPipeNotConnected = 233;
    private const int ErrorNoData = 232;

    private volatile bool _stopping;

    /// <summary>What a reader is given: the bytes of one read (valid only during the call).</summary>
    public delegate void DataHandler(ReadOnlySpan<byte> data);

    /// <summary>Reads into <paramref name="onData"/>; true when the writers are gone (the pipe is done), false when stopped.
    /// Throws <see cref="WindowsCallException"/> when reading fails otherwise.</summary>
    public bool Run(DataHandler onData)
    {
        ArgumentNullException.ThrowIfNull(onData);
        var done = CreateEventW(null, 1, 0, null);
        if (done == 0)
        {
            throw new WindowsCallException("CreateEvent", Marshal.GetLastPInvokeError());
        }
        var buffer = new byte[(int)ProgramJobs.PipeBuffer];
        try
        {
            fixed (byte* data = buffer)
            {
                var overlapped = default(NativeOverlapped);
                while (true)
                {
                    if (_stopping)
                    {
                        return false;
                    }
                    overlapped = default;
                    overlapped.EventHandle = done | 1;
                    uint read = 0;
                    var ok = ReadFile(pipe, data, (uint)buffer.Length, null, &overlapped) != 0;
                    var error = ok ? 0 : Marshal.GetLastPInvokeError();
                    if (ok || error == ErrorIoPending)
                    {
                        Interlocked.MemoryBarrier();
                        if (!ok && _stopping)
                        {
                            _ = CancelIoEx(pipe, &overlapped);
                        }
                        ok = GetOverlappedResult(pipe, &overlapped, &read, 1) != 0;
                        error = ok ? 0 : Marshal.GetLastPInvokeError();
                    }
                    if (ok || error == ErrorMoreData)
                    {
                        if (read > 0)
                        {
                            onData(buffer.AsSpan(0, (int)read));
                        }
                        continue;
                    }
                    switch (error)
                    {
                        case Win32.ErrorBrokenPipe or ErrorPipeNotConnected or ErrorNoData:
                            return true;
                        case ErrorOperationAborted:
                            return false;
                        default:
                            throw new WindowsCallException("ReadFile", error, "reading a program's output");
                    }
                }
            }
        }
        finally
        {
            _ = CloseHandle(done);
        }
    }

    /// <summary>Makes <see cref="Run"/> return once the read in flight is cancelled (or has completed and been handed over).</summary>
    public void Stop()
    {
        _stopping = true;
        Interlocked.MemoryBarrier();
        _ = CancelIoEx(pipe, null);
    }

    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial nint CreateEventW(void* attributes, int manualReset, int initialState, char* name);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial int ReadFile(nint file, byte* buffer, uint toRead, uint* read, NativeOverlapped* overlapped);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial int GetOverlappedResult(nint file, NativeOverlapped* overlapped, uint* transferred, int wait);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial int CancelIoEx(nint file, NativeOverlapped* overlapped);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial int CloseHandle(nint handle);
}
