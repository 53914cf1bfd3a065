using Belay.Core.Programs;

namespace Belay.Agent.Supervision;

/// <summary>
/// What the <see cref="Supervisor"/> needs from the operating system to run one program: start it with
/// its output going into its rotated logs, ask it to stop, end it (and whatever it left), and tell whether
/// a process an earlier agent recorded still runs. One backend per system: <see cref="PosixProgramHost"/>
/// (process groups, FIFOs, signals) and <see cref="WindowsProgramHost"/> (Job Objects, named pipes,
/// CTRL_BREAK). The supervisor's rules (restart, backoff, fatal, hand-over) are the same on both.
/// </summary>
internal interface IProgramHost : IDisposable
{
    /// <summary>Starts the program (its logs are pumped first); throws Win32Exception, InvalidOperationException or IOException when it cannot.</summary>
    StartedProcess Start(ProgramDefinition definition, bool separateStderr);

    /// <summary>Makes sure the program's output reaches its logs with the definition's limits (an adopted program, a reload).</summary>
    void PumpLogs(ProgramDefinition definition, bool separateStderr);

    /// <summary>A removed program: stop copying its output once what is waiting is written.</summary>
    void Forget(string name);

    /// <summary>Asks the program to stop (its stop signal, or CTRL_BREAK); completes with a message when that could not be
    /// delivered, and then the supervisor ends it at once. Never blocks the supervisor's loop.</summary>
    Task<string?> RequestStopAsync(int pid, ProgramDefinition definition);

    /// <summary>Ends the program and everything it started, now (stop_timeout passed).</summary>
    void Kill(int pid);

    /// <summary>The program ended: end what it left behind and let go of it.</summary>
    void Ended(int pid);

    /// <summary>Whether the process <paramref name="pid"/> started at <paramref name="startTime"/> still runs.</summary>
    bool IsSameProcessAlive(int pid, long startTime);

    /// <summary>An agent update: leave the programs running for the next agent (nothing to do on Linux, where they and
    /// their FIFOs outlive the agent by themselves; on Windows the keeper takes their handles).</summary>
    void HandOver();

    /// <summary>How a recorded exit status (the keeper's exit record) reads.</summary>
    string DescribeExit(int status);
}

/// <summary>A started program: its pid, its start time (with the pid, its identity) and its exit.</summary>
internal sealed record StartedProcess(int Pid, long StartTime, Task<ProgramExit> Exited)
{
    /// <summary>
    /// Lets the program run, once the supervisor has recorded its pid (null: it runs already). A program must never
    /// run unrecorded: an agent killed in between would leave it to run unknown, and the next agent would start it
    /// again beside it (a second copy that cannot bind the first one's port). Returns false when it had ended.
    /// </summary>
    public Func<bool>? Proceed { get; init; }
}

/// <summary>How a program ended: success (exit 0) and the words for it ("exit 3", "signal 9").</summary>
internal readonly record struct ProgramExit(bool Success, string Description);
