using System.Globalization;
using Belay.Core.IO;
using Belay.Core.Programs.Windows;

namespace Belay.Core.Deploy;

/// <summary>
/// Ends a hook an earlier agent left running, named by its record (<see cref="HookRecords"/>: the pid, and the
/// start time that tells it from a later process with the same pid), so that no hook of a crashed agent runs on
/// beside the step the next agent resumes or fails.
/// </summary>
public interface ILeftHooks
{
    /// <summary>Ends it when it still runs; what was ended ("process group 42"), or null when it was gone.</summary>
    string? End(int pid, long startTime);
}

/// <summary>Linux and the other Unixes: the hook led its own process group (belay-agent exec), which gets SIGKILL.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PosixLeftHooks : ILeftHooks
{
    public string? End(int pid, long startTime)
    {
        if (!PosixProcess.IsSameProcessAlive(pid, startTime))
        {
            return null;
        }
        PosixProcess.SignalGroup(pid, PosixProcess.SigKill);
        return string.Create(CultureInfo.InvariantCulture, $"process group {pid}");
    }
}

/// <summary>
/// Windows: the record holds the pid and the process's creation time (GetProcessTimes). A hook runs in a
/// kill-on-close job that only the agent holds, so the job, and the hook with everything it started, ends with
/// the agent's process however that ends; what is left to do is to make sure: a process with that pid and that
/// creation time is terminated (OpenProcess, GetProcessTimes, TerminateProcess).
/// </summary>
public sealed class WindowsLeftHooks(IWindowsProcessApi api) : ILeftHooks
{
    private const uint ProcessTerminate = 0x1;

    public string? End(int pid, long startTime)
    {
        nint process;
        try
        {
            process = api.OpenProcess(ProcessTerminate | Win32.ProcessQueryLimitedInformation, pid);
        }
        catch (WindowsCallException)
        {
            return null; // no such process (ERROR_INVALID_PARAMETER), or one we may not touch: not the agent's hook
        }
        try
        {
            if (api.CreationTime(process) != startTime || api.ExitCode(process) != Win32.StillActive)
            {
                return null;
            }
            api.TerminateProcess(process, ProgramJobs.TerminatedExitCode);
            return string.Create(CultureInfo.InvariantCulture, $"process {pid}");
        }
        catch (WindowsCallException)
        {
            return null;
        }
        finally
        {
            api.CloseHandle(process);
        }
    }
}
