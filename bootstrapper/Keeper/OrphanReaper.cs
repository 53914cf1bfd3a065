using System.Globalization;
using System.Runtime.Versioning;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Programs;

namespace Belay.Bootstrapper.Keeper;

/// <summary>
/// Programs outlive the agent that started them (an update hands them over), so on Linux
/// the keeper makes itself a child subreaper: a program whose agent exited is reparented
/// to the keeper, not to PID 1, and the keeper can tell the next agent how it ended.
/// Once a second it reaps its dead children that are not its agent, and writes
/// state/programs/NAME.exit for those that were programs.
/// Hazard: never waitpid(-1): that would also reap the agent and steal its exit status
/// from .NET's Process. A child is reaped only when it is a zombie in another process
/// group than the keeper's: every program leads its own session (belay-agent exec does
/// setsid), while an agent always stays in the keeper's group, so an agent is never taken.
/// Elsewhere (macOS, illumos) there is no subreaper: orphans go to init, and the exit
/// status of a program that ends while no agent runs is lost (the next agent sees only
/// that it is gone).
/// </summary>
[UnsupportedOSPlatform("windows")]
internal static class OrphanReaper
{
    public static async Task RunAsync(InstallLayout layout, Action<string> log, CancellationToken cancellationToken)
    {
        if (!PosixProcess.BecomeChildSubreaper())
        {
            return;
        }
        log("child subreaper: programs an agent leaves running are reparented to the keeper");
        var paths = ProgramPaths.For(layout);
        var ownGroup = GroupOf(Environment.ProcessId);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                ReapOnce(paths, ownGroup, log);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static void ReapOnce(ProgramPaths paths, int ownGroup, Action<string> log)
    {
        List<ProgramRecord>? programs = null;
        foreach (var pid in Children())
        {
            if (!IsZombie(pid, out var group) || group == ownGroup || group <= 0 || PosixProcess.TryReap(pid) is not { } status)
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
                    log($"cannot record the exit of {program.Name} (pid {pid}): {e.Message}");
                }
                log($"program {program.Name} (pid {pid}) ended while no agent was its parent: {PosixProcess.DescribeWaitStatus(status)}");
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
    private static List<int> Children()
    {
        var pids = new List<int>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    foreach (var word in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        if (int.TryParse(word, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                        {
                            pids.Add(pid);
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

    private static bool IsZombie(int pid, out int group)
    {
        group = 0;
        var fields = Stat(pid);
        if (fields is null || fields.Length < 3)
        {
            return false;
        }
        group = int.TryParse(fields[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var g) ? g : 0;
        return fields[0] == "Z";
    }

    private static int GroupOf(int pid) =>
        Stat(pid) is { Length: >= 3 } f && int.TryParse(f[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var g) ? g : -1;

    /// <summary>/proc/PID/stat after "(comm) ": [0] state, [1] ppid, [2] pgrp, ...</summary>
    private static string[]? Stat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null;
        }
    }
}
