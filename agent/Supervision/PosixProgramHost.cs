using System.Diagnostics;
using System.Runtime.Versioning;
using Belay.Core.IO;
using Belay.Core.Programs;
using Serilog;

namespace Belay.Agent.Supervision;

/// <summary>
/// Programs on Linux and the other Unix systems: each starts through `belay-agent exec` (<see cref="ExecHelper"/>:
/// a session and process group of its own, its FIFOs on stdout and stderr, then execvp), is stopped by its
/// stop signal to the group and killed by SIGKILL to the group; <see cref="LogPump"/> copies the FIFOs into
/// the rotated logs. The FIFOs outlive the agent, which is how output survives a hand-over.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed class PosixProgramHost(ProgramPaths paths, ILogger log, string agentExe) : IProgramHost
{
    private readonly LogPump _pump = new(log);

    public StartedProcess Start(ProgramDefinition d, bool separateStderr)
    {
        if (d.PasswordFile is { } passwordFile)
        {
            throw new FatalSpawnException(
                $"password_file = {passwordFile}: only Windows needs an account's password to run a program as it; here the agent (root) runs it as user without one: remove password_file");
        }
        PumpLogs(d, separateStderr);
        // The helper waits for the supervisor's go, sent once the pid is in the state file (StartedProcess.Proceed).
        string[] options = separateStderr
            ? [AgentExec.GoOnStdin, "--log", paths.Fifo(d.Name), "--stderr", paths.ErrFifo(d.Name), "--dir", d.Directory]
            : [AgentExec.GoOnStdin, "--log", paths.Fifo(d.Name), "--dir", d.Directory];
        var psi = AgentExec.StartInfo(agentExe, options, d.User, d.Group, d.Command, d.Environment);
        psi.RedirectStandardInput = true;
        var process = Process.Start(psi) ?? throw new InvalidOperationException("no process");
        var pid = process.Id;
        return new StartedProcess(pid, PosixProcess.StartTime(pid), WaitAsync(process)) { Proceed = () => AgentExec.Go(process) };
    }

    private static async Task<ProgramExit> WaitAsync(Process process)
    {
        using (process)
        {
            await process.WaitForExitAsync().ConfigureAwait(false);
            var code = process.ExitCode;
            // .NET reports a death by signal N as 128 + N.
            return new ProgramExit(code == 0, code > 128 ? $"signal {code - 128}" : $"exit {code}");
        }
    }

    public Task<string?> RequestStopAsync(int pid, ProgramDefinition definition)
    {
        if (!PosixProcess.SignalGroup(pid, definition.StopSignal))
        {
            PosixProcess.Signal(pid, definition.StopSignal);
        }
        return Task.FromResult<string?>(null);
    }

    public void Kill(int pid) => PosixProcess.SignalGroup(pid, PosixProcess.SigKill);

    // Whatever the program left in its group (a background child) goes with it.
    public void Ended(int pid) => PosixProcess.SignalGroup(pid, PosixProcess.SigKill);

    public bool IsSameProcessAlive(int pid, long startTime) => PosixProcess.IsSameProcessAlive(pid, startTime);

    public string DescribeExit(int status) => PosixProcess.DescribeWaitStatus(status);

    private static string StderrSource(string name) => name + " stderr";

    /// <summary>
    /// Copies the program's stdout FIFO into NAME.log and, when its process has a stderr FIFO of its own,
    /// that one into NAME.err.log (creating the FIFOs that are missing). A program whose stderr goes into
    /// NAME.log has no stderr FIFO: one left from an earlier run is drained and deleted.
    /// </summary>
    public void PumpLogs(ProgramDefinition d, bool separateStderr)
    {
        var name = d.Name;
        _pump.Add(name, paths.Fifo(name), paths.Log(name), d.LogMaxBytes, d.LogBackups);
        if (separateStderr)
        {
            _pump.Add(StderrSource(name), paths.ErrFifo(name), paths.ErrLog(name), d.LogMaxBytes, d.LogBackups);
        }
        else
        {
            if (File.Exists(paths.ErrFifo(name)))
            {
                // Whatever an earlier process left in it still reaches NAME.err.log before the FIFO goes.
                _pump.Add(StderrSource(name), paths.ErrFifo(name), paths.ErrLog(name), d.LogMaxBytes, d.LogBackups);
            }
            _pump.Remove(StderrSource(name));
            DeleteFile(paths.ErrFifo(name));
        }
    }

    /// <summary>A removed program: stop copying its output (what is in the pipes is still written) and delete its FIFOs.</summary>
    public void Forget(string name)
    {
        _pump.Remove(name);
        _pump.Remove(StderrSource(name));
        DeleteFile(paths.Fifo(name));
        DeleteFile(paths.ErrFifo(name));
    }

    /// <summary>Deletes a FIFO by path; the pump's open descriptor still reads what is left in it.</summary>
    private void DeleteFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.Warning("cannot delete {File}: {Error}", path, e.Message);
        }
    }

    public void HandOver()
    {
        // The programs are the keeper's children once this agent exits, and their FIFOs keep what they write.
    }

    public void Dispose() => _pump.Dispose();
}
