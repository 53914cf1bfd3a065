using System.Globalization;
using Belay.Core.IO;

namespace Belay.Core.Programs;

/// <summary>
/// One agent at a time per installation: agent.lock in the state folder, held (an OS lock on the open
/// file, released by the kernel however the process ends) from before the agent reads its programs'
/// state and the apps' journals until it exits, with agent.pid naming the holder (pid and start time).
/// A keeper stops its agent before it starts the next one, but a keeper that dies (SIGKILL, OOM) leaves
/// its agent to hand over on its own (SIGUSR2 on the parent's death), and the next keeper starts an agent
/// at once: without the lock the two ran side by side, both supervising the same programs and writing
/// the same state file, and the last writer's record stood, so a program the new agent had started could
/// vanish from the state file the old one wrote last, and the agent after them started it a second time.
/// A holder that does not end within <c>endAfter</c> (the time a keeper gives an agent to hand over) is
/// ended by the waiter, as its keeper would have.
/// </summary>
public sealed class AgentLock : IDisposable
{
    private static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(50);

    private readonly FileStream _held;

    private AgentLock(FileStream held) => _held = held;

    public void Dispose() => _held.Dispose();

    /// <summary>
    /// Takes <paramref name="lockFile"/>, waiting while another agent holds it; after <paramref name="endAfter"/>
    /// calls <paramref name="end"/> once with the holder that <paramref name="pidFile"/> names (pid, start time;
    /// it must end that process only if it is still that process) and waits on. Says what it waits for through
    /// <paramref name="log"/>. Throws OperationCanceledException when <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public static async Task<AgentLock> AcquireAsync(string lockFile, string pidFile, TimeSpan endAfter, Func<int, long, bool> end, Action<string> log,
        TimeProvider clock, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(end);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(clock);
        var since = clock.GetUtcNow();
        var said = false;
        var ended = false;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (TryTake(lockFile) is { } held)
            {
                var self = Environment.ProcessId;
                try
                {
                    AtomicFile.WriteAllText(pidFile, string.Create(CultureInfo.InvariantCulture, $"{self} {Holder.StartTimeOf(self)}\n"));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Only a waiting agent reads it (to end a holder that hangs); a full disk must not stop this one.
                    log($"cannot write {pidFile}: {e.Message}");
                }
                if (said)
                {
                    log($"the agent before has ended after {(clock.GetUtcNow() - since).TotalSeconds:0.0} s; this one takes over");
                }
                return new AgentLock(held);
            }
            var holder = Holder.Read(pidFile);
            if (!said)
            {
                said = true;
                log($"another agent ({(holder is { } h ? $"pid {h.Pid}" : "pid unknown")}) still runs for this installation, most likely handing its programs over " +
                    $"after its keeper died; waiting for it to end (at most {endAfter.TotalSeconds:0} s, then it is killed) before supervising anything");
            }
            if (!ended && clock.GetUtcNow() - since >= endAfter)
            {
                ended = true;
                if (holder is { } k && k.Pid != Environment.ProcessId && end(k.Pid, k.StartTime))
                {
                    log($"the agent before (pid {k.Pid}) did not end within {endAfter.TotalSeconds:0} s; killed it");
                }
                else
                {
                    log($"the agent before did not end within {endAfter.TotalSeconds:0} s and {pidFile} does not name it; waiting on");
                }
            }
            await Task.Delay(Retry, clock, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The lock, or null while another process (or another open of it) holds it.</summary>
    private static FileStream? TryTake(string path)
    {
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>agent.pid: "PID STARTTIME" of the agent that holds the lock.</summary>
    public static class Holder
    {
        /// <summary>The process's start time, which with its pid names it (a reused pid has another): the kernel's clock ticks
        /// on POSIX, the start instant's UTC ticks on Windows.</summary>
        public static long StartTimeOf(int pid)
        {
            if (!OperatingSystem.IsWindows())
            {
                return PosixProcess.StartTime(pid);
            }
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return StartTimeOf(process);
        }

        /// <summary><see cref="StartTimeOf(int)"/> of a process already open (Windows).</summary>
        public static long StartTimeOf(System.Diagnostics.Process process)
        {
            ArgumentNullException.ThrowIfNull(process);
            return process.StartTime.ToUniversalTime().Ticks;
        }

        public static (int Pid, long StartTime)? Read(string pidFile)
        {
            try
            {
                var parts = File.ReadAllText(pidFile).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                return parts.Length >= 1 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0
                    ? (pid, parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var start) ? start : 0)
                    : null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
    }
}
