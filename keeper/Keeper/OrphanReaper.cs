using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Threading.Channels;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Programs;

namespace Belay.Keeper;

/// <summary>
/// Programs outlive the agent that started them (an update hands them over), so on Linux
/// the keeper makes itself a child subreaper: a program whose agent exited is reparented
/// to the keeper, not to PID 1, and the keeper can tell the next agent how it ended.
/// On each SIGCHLD (and once a minute) it reaps its dead children that are not its agent, and writes
/// state/programs/NAME.exit for those that were programs.
/// It also ends what an agent left behind: when an agent's run ends, <see cref="EndAgentGroup"/>
/// kills the process group the agent led (AgentExec), and the reaper reaps those processes.
/// Hazard: never waitpid(-1): that would also reap the agent and steal its exit status
/// from .NET's Process. A zombie child is reaped only when it is in another session than the
/// keeper's (every program leads its own session: belay-agent exec does setsid), or in the
/// group of an agent whose exit .NET has already taken. A running agent is neither: it stays
/// in the keeper's session and leads a group that is not marked ended until its exit is seen,
/// so an agent is never taken.
/// Elsewhere (macOS, illumos) there is no subreaper: orphans go to init, and the exit
/// status of a program that ends while no agent runs is lost (the next agent sees only
/// that it is gone).
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed class OrphanReaper(InstallLayout layout, Action<string> log)
{
    /// <summary>Groups of agents whose run ended: their leftovers may be reaped.</summary>
    private readonly ConcurrentDictionary<int, byte> _endedGroups = new();

    /// <summary>
    /// The agent that led <paramref name="group"/> has exited and .NET has its exit status: kill whatever
    /// is left in its group (SIGKILL), and let the reaper take those processes. Nothing of a finished
    /// agent outlives its run, whichever way it ended.
    /// </summary>
    public void EndAgentGroup(int group, string version)
    {
        if (group <= 1)
        {
            return;
        }
        _endedGroups[group] = 0;
        if (PosixProcess.SignalGroup(group, PosixProcess.SigKill))
        {
            log($"killed what agent {version} (pid {group}) left running in its process group");
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (!PosixProcess.BecomeChildSubreaper())
        {
            return;
        }
        log("child subreaper: programs an agent leaves running are reparented to the keeper");
        var paths = ProgramPaths.For(layout);
        var ownSession = SessionOf(Environment.ProcessId);
        var buffer = new byte[4096];
        // A child that dies sends SIGCHLD: look then, not on a clock (an idle keeper then does not
        // wake at all). The runtime still does its own SIGCHLD work for the agent's Process. A
        // signal is a wake-up, not a count (two deaths can make one signal), so each wake reaps
        // every zombie there is, and a slow scan every minute covers a signal that was missed.
        // The wake-up is a channel of one slot, never disposed: the runtime runs a signal handler
        // on a thread of its own, and one can still run after the registration is disposed; a
        // disposed SemaphoreSlim there threw ObjectDisposedException and killed the keeper as it stopped.
        var childDied = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        using var sigchld = PosixSignalRegistration.Create(PosixSignal.SIGCHLD, _ => childDied.Writer.TryWrite(true));
        // The minute's scan is a timer raced against the wait, not a cancelled wait: an exception thrown and caught
        // every minute was a sixth of what an idle keeper ran (callgrind), and its dispatch code and tables stayed
        // resident for it. One wait is kept until a signal completes it; a fresh one each minute would pile up
        // (every waiting reader stays queued until the next write).
        Task<bool>? signalled = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            signalled ??= childDied.Reader.WaitToReadAsync(cancellationToken).AsTask();
            if (!signalled.IsCompleted)
            {
                using var scan = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                await Task.WhenAny(signalled, Task.Delay(FallbackScan, scan.Token)).ConfigureAwait(false);
                await scan.CancelAsync().ConfigureAwait(false); // the minute's timer goes at once when a signal came first
            }
            if (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            if (signalled.IsCompleted)
            {
                signalled = null;
            }
            childDied.Reader.TryRead(out _);
            ReapOnce(paths, ownSession, ref buffer);
        }
    }

    /// <summary>How often the keeper looks for zombies without a SIGCHLD telling it to.</summary>
    private static readonly TimeSpan FallbackScan = TimeSpan.FromMinutes(1);

    private void ReapOnce(ProgramPaths paths, int ownSession, ref byte[] buffer)
    {
        List<ProgramRecord>? programs = null;
        foreach (var pid in Children(ref buffer))
        {
            if (!Stat(pid, ref buffer, out var state, out var group, out var session) || state != 'Z' || group <= 0
                || (session == ownSession && !_endedGroups.ContainsKey(group)) || PosixProcess.TryReap(pid) is not { } status)
            {
                continue;
            }
            programs ??= ProgramsStateFile.TryLoad(paths.StateFile)?.Programs ?? [];
            if (programs.Find(p => p.Pid == pid) is { } program)
            {
                try
                {
                    new ExitRecord { Pid = pid, Status = status, At = DateTimeOffset.UtcNow }.Save(paths.ExitRecord(program.Name));
                }
                catch (IOException e)
                {
                    log($"cannot record the exit of {program.Name} (pid {pid}): {SystemErrors.Describe(e)}");
                }
                log($"program {program.Name} (pid {pid}) ended while no agent was its parent: {PosixProcess.DescribeWaitStatus(status)}");
            }
        }
        // A group with no process left is forgotten (signal 0 reaches zombies too, so not before they are
        // reaped). Pids are handed out in increasing order, so a new agent does not get the id of a group
        // that only just emptied.
        foreach (var group in _endedGroups.Keys)
        {
            if (!PosixProcess.SignalGroup(group, 0))
            {
                _endedGroups.TryRemove(group, out _);
            }
        }
    }

    /// <summary>Stop-all fallback when the agent did not stop them: SIGKILL to the group of every program still running.</summary>
    public static void KillPrograms(InstallLayout layout, Action<string> log)
    {
        var state = ProgramsStateFile.TryLoad(ProgramPaths.For(layout).StateFile);
        foreach (var program in state?.Programs ?? [])
        {
            if (program.Pid > 1 && PosixProcess.IsSameProcessAlive(program.Pid, program.StartTime))
            {
                PosixProcess.SignalGroup(program.Pid, PosixProcess.SigKill);
                log($"killed program {program.Name} (process group {program.Pid})");
            }
        }
    }

    /// <summary>The keeper's children, from /proc/self/task/*/children (each thread has its own list).</summary>
    private static List<int> Children(ref byte[] buffer)
    {
        var pids = new List<int>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    var length = ReadProcFile(Path.Combine(task, "children"), ref buffer);
                    var pid = -1;
                    for (var i = 0; i <= length; i++)
                    {
                        var c = i < length ? buffer[i] : (byte)' ';
                        if (c is >= (byte)'0' and <= (byte)'9')
                        {
                            pid = (pid < 0 ? 0 : pid * 10) + (c - '0');
                        }
                        else
                        {
                            if (pid > 0)
                            {
                                pids.Add(pid);
                            }
                            pid = -1;
                        }
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // A thread that ended, or a kernel without CONFIG_PROC_CHILDREN.
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return pids;
    }

    private static int SessionOf(int pid)
    {
        var buffer = new byte[512];
        return Stat(pid, ref buffer, out _, out _, out var session) ? session : -1;
    }

    /// <summary>
    /// /proc/PID/stat after "(comm) ": the state letter, the process group and the session (the third and fourth fields).
    /// Parsed from bytes in a buffer the caller reuses: when this ran every second, reading it (and
    /// the children lists) with File.ReadAllText made the keeper allocate ~90 KB/s, a gen0 GC every ~20 s.
    /// </summary>
    private static bool Stat(int pid, ref byte[] buffer, out char state, out int group, out int session)
    {
        state = '\0';
        group = 0;
        session = 0;
        int length;
        try
        {
            length = ReadProcFile($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat", ref buffer);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
        var text = buffer.AsSpan(0, length);
        var close = text.LastIndexOf((byte)')');
        if (close < 0 || close + 2 >= length)
        {
            return false;
        }
        // [0] state, [1] ppid, [2] pgrp, [3] session, each followed by a space.
        ReadOnlySpan<byte> rest = text[(close + 2)..];
        for (var field = 0; field < 4; field++)
        {
            var space = rest.IndexOf((byte)' ');
            if (space < 0)
            {
                return false;
            }
            var value = rest[..space];
            if (field == 0)
            {
                state = value.Length == 1 ? (char)value[0] : '?';
            }
            else if (field == 2 && !int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out group))
            {
                return false;
            }
            else if (field == 3)
            {
                return int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out session);
            }
            rest = rest[(space + 1)..];
        }
        return false;
    }

    /// <summary>Reads a whole /proc file into <paramref name="buffer"/> (grown when too small); returns its length.</summary>
    private static int ReadProcFile(string path, ref byte[] buffer)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        var total = 0;
        while (true)
        {
            if (total == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }
            var n = RandomAccess.Read(handle, buffer.AsSpan(total), total);
            if (n <= 0)
            {
                return total;
            }
            total += n;
        }
    }
}
