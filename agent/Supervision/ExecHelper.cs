using Belay.Core.IO;
using Belay.Core.Programs;

namespace Belay.Agent.Supervision;

/// <summary>
/// `belay-agent exec --log FIFO [--stderr FIFO] [--user U] [--group G] [--dir D] -- COMMAND ARGS...`: how
/// the supervisor starts a program (and, with `--stderr-to-stdout` instead of the FIFOs, how a
/// deployed app's hook starts: stdout and stderr on the one pipe the agent reads). .NET's Process.Start cannot start a new session,
/// change user or plumb a FIFO onto stdout, and fork() is unsafe inside the runtime; so
/// the agent starts itself in this mode, which does exactly that, in this order, and then
/// execs the program in place (same pid, no extra process left):
///   0. with --go-on-stdin (how the agent starts every program and hook): waits for one byte on
///      stdin, which the agent writes once the process's pid is recorded (state/programs/state.json,
///      apps/APP.hook); stdin ending first means the agent died before it recorded it, and the helper
///      exits 125 without running anything, still in the agent's process group (which the keeper kills):
///      whatever an agent starts is either recorded for the next agent to adopt or end, or never runs;
///   1. setsid (the program leads its own process group: a stop reaches its children);
///   2. opens the program's FIFO read-write and puts it on stdout, and on stderr too unless
///      --stderr names a second FIFO for it (the program holds a reader end of each itself,
///      so it never gets SIGPIPE while no agent reads; a write only blocks once the 64 KiB
///      pipe is full), /dev/null on stdin; from here on an error message lands in the
///      program's (stderr) log;
///   3. chdir; when a user or group is given (root only): supplementary groups
///      (initgroups), gid, uid;
///   4. resets the signal dispositions and mask the .NET runtime set (SIGPIPE ignored);
///   5. execvp. Exit codes when it cannot: 125 set-up failed, 126 cannot run, 127 not found.
/// </summary>
internal static class ExecHelper
{
    public const string Verb = "exec";

    public static int Run(string[] args)
    {
        if (OperatingSystem.IsWindows())
        {
            Console.Error.WriteLine("belay-agent exec: supervising programs is not supported on Windows yet");
            return 125;
        }
        string? log = null, stderr = null, user = null, group = null, dir = null;
        var stderrToStdout = false;
        var goOnStdin = false;
        var i = 0;
        for (; i < args.Length && args[i] != "--"; i++)
        {
            if (args[i] == "--stderr-to-stdout")
            {
                stderrToStdout = true;
                continue;
            }
            if (args[i] == GoOnStdin)
            {
                goOnStdin = true;
                continue;
            }
            if (i + 1 >= args.Length)
            {
                return Usage($"{args[i]} needs a value");
            }
            switch (args[i])
            {
                case "--log":
                    log = args[++i];
                    break;
                case "--stderr":
                    stderr = args[++i];
                    break;
                case "--user":
                    user = args[++i];
                    break;
                case "--group":
                    group = args[++i];
                    break;
                case "--dir":
                    dir = args[++i];
                    break;
                default:
                    return Usage($"unknown option {args[i]}");
            }
        }
        var command = args.Length > i + 1 ? args[(i + 1)..] : [];
        if (command.Length == 0)
        {
            return Usage("no command after --");
        }
        if (goOnStdin && !WaitForGo())
        {
            return Fail(125, "the agent that started this ended before it recorded it; not running " + command[0]);
        }
        if (PosixProcess.NewSession() is var sid and not 0)
        {
            Console.Error.WriteLine($"belay-agent exec: setsid failed (errno {sid})");
            return 125;
        }
        if (stderrToStdout && PosixProcess.Redirect(1, 2) is var dup and not 0)
        {
            Console.Error.WriteLine($"belay-agent exec: cannot put stdout on stderr (errno {dup})");
            return 125;
        }
        if (log is not null)
        {
            // stderr first: should the stdout FIFO fail to open, the message still reaches a log.
            if (stderr is not null && !PutFifoOn(stderr, [2]))
            {
                return 125;
            }
            if (!PutFifoOn(log, stderr is null ? [1, 2] : [1]))
            {
                return 125;
            }
        }
        var devNull = PosixProcess.OpenDevNull();
        if (devNull >= 0)
        {
            _ = PosixProcess.Redirect(devNull, 0);
            if (devNull > 2)
            {
                PosixProcess.Close(devNull);
            }
        }
        if (dir is not null && PosixProcess.ChangeDirectory(dir) is var cd and not 0)
        {
            return Fail(125, $"cannot change to directory {dir} (errno {cd})");
        }
        if (user is not null || group is not null)
        {
            uint uid, gid;
            if (user is not null)
            {
                if (PosixProcess.LookUpUser(user) is not { } found)
                {
                    return Fail(125, $"no such user '{user}'");
                }
                (uid, gid) = found;
            }
            else
            {
                uid = PosixProcess.RealUid;
                gid = 0;
            }
            if (group is not null)
            {
                if (PosixProcess.LookUpGroup(group) is not { } g)
                {
                    return Fail(125, $"no such group '{group}'");
                }
                gid = g;
            }
            if (!Posix.IsRoot)
            {
                return Fail(125, $"running as user '{user ?? "(same)"}' group '{group ?? "(primary)"}' needs the agent to run as root");
            }
            if (PosixProcess.DropPrivileges(user, uid, gid) is var drop and not 0)
            {
                return Fail(125, $"cannot become user '{user}' (uid {uid}, gid {gid}): errno {drop}");
            }
        }
        PosixProcess.ResetSignals();
        var errno = PosixProcess.Exec(command);
        return Fail(errno == 2 ? 127 : 126, $"cannot run {command[0]}: {(errno == 2 ? "not found" : errno == 13 ? "permission denied" : $"errno {errno}")}");
    }

    /// <summary>Opens <paramref name="fifo"/> read-write onto each of <paramref name="targets"/>.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static bool PutFifoOn(string fifo, int[] targets)
    {
        var fd = PosixProcess.OpenFifoForProgram(fifo);
        if (fd < 0)
        {
            Console.Error.WriteLine($"belay-agent exec: cannot open {fifo} (errno {PosixProcess.LastError})");
            return false;
        }
        foreach (var target in targets)
        {
            _ = PosixProcess.Redirect(fd, target);
        }
        if (fd > 2)
        {
            PosixProcess.Close(fd);
        }
        return true;
    }

    private static int Usage(string problem)
    {
        Console.Error.WriteLine($"belay-agent exec: {problem}. Usage: belay-agent exec [{GoOnStdin}] [--log FIFO [--stderr FIFO] | --stderr-to-stdout] [--user U] [--group G] [--dir D] -- COMMAND ARGS...");
        return 2;
    }

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine($"belay-agent exec: {message}");
        Console.Error.Flush();
        return code;
    }

    /// <summary>The option that makes the helper wait for the agent's go on stdin (step 0).</summary>
    public const string GoOnStdin = AgentExec.GoOnStdin;

    /// <summary>True once a byte arrived on stdin; false when stdin ended (or failed) first.</summary>
    private static bool WaitForGo()
    {
        try
        {
            using var stdin = Console.OpenStandardInput();
            return stdin.ReadByte() >= 0;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
