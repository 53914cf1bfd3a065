using Belay.Core.IO;

namespace Belay.Keeper;

/// <summary>
/// `belay-keeper agent-exec AGENT ARGS…` (and `belay agent-exec`, for a keeper that still runs
/// inside belay): how the keeper starts an agent on Unix. .NET's Process.Start
/// cannot put a child in a process group of its own, so the keeper starts its own executable in
/// this mode, which makes itself the leader of a new process group (setpgid(0, 0)), resets the
/// signal dispositions and mask the .NET runtime set, and execs the agent in place (same pid, no
/// extra process). Whatever the agent starts stays in that group unless it leaves it on purpose,
/// so when the agent's run ends (an exit, a failed try, a hang killed at its deadline, a stop)
/// the keeper kills the whole group: a broken version's `child &` goes with it. Supervised
/// programs are not in it: `belay-agent exec` makes each lead a session of its own, which is how
/// they outlive agent updates. The agent stays in the keeper's session, which is how the keeper's
/// reaper tells it from a program (OrphanReaper). Exit codes when it cannot: 125 set-up failed,
/// 126 cannot run, 127 not found.
/// </summary>
internal static class AgentExec
{
    public const string Verb = "agent-exec";

    public static int Run(string[] args)
    {
        if (OperatingSystem.IsWindows())
        {
            return Fail(125, "agent-exec is for Unix; on Windows the keeper starts the agent directly");
        }
        if (args.Length == 0)
        {
            return Fail(2, "no agent to run. Usage: belay-keeper agent-exec AGENT ARGS... (the keeper runs this, not people)");
        }
        if (PosixProcess.NewProcessGroup() is var group and not 0)
        {
            return Fail(125, $"cannot start a process group for the agent (setpgid: errno {group})");
        }
        PosixProcess.ResetSignals();
        var errno = PosixProcess.Exec(args);
        return Fail(errno == 2 ? 127 : 126, $"cannot run {args[0]}: {(errno == 2 ? "not found" : errno == 13 ? "permission denied" : errno == 8 ? "not an executable for this system" : $"errno {errno}")}");
    }

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine($"{Path.GetFileName(Environment.ProcessPath) ?? "belay-keeper"} agent-exec: {message}");
        Console.Error.Flush();
        return code;
    }
}
