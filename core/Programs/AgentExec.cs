using System.Diagnostics;
using Belay.Core.Install;

namespace Belay.Core.Programs;

/// <summary>
/// How the agent starts a child on Unix, be it a program, an app or a hook: through its own
/// executable in exec mode (<c>belay-agent exec OPTIONS [--user U] [--group G] -- COMMAND ARGS…</c>),
/// which makes the child lead its own session and process group, takes on the user and group,
/// wires its output, and then execs the command. The child's environment is the agent's without
/// the keeper's channel variables, with USER, LOGNAME and HOME of the user it runs as, and then
/// its own variables (which may set those three again).
/// </summary>
public static class AgentExec
{
    /// <param name="options">exec's options before the user: <c>--log FIFO</c>, <c>--stderr-to-stdout</c>, <c>--dir D</c>, …</param>
    public static ProcessStartInfo StartInfo(string agentExe, IEnumerable<string> options, string? user, string? group,
        IReadOnlyList<string> command, IEnumerable<KeyValuePair<string, string>> environment)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(environment);
        var psi = new ProcessStartInfo(agentExe) { UseShellExecute = false, WorkingDirectory = "/" };
        psi.ArgumentList.Add("exec");
        foreach (var option in options)
        {
            psi.ArgumentList.Add(option);
        }
        foreach (var variable in KeeperChannel.Variables)
        {
            psi.Environment.Remove(variable);
        }
        if (user is not null)
        {
            psi.ArgumentList.Add("--user");
            psi.ArgumentList.Add(user);
            psi.Environment["USER"] = user;
            psi.Environment["LOGNAME"] = user;
            if (HomeOf(user) is { } home)
            {
                psi.Environment["HOME"] = home;
            }
        }
        if (group is not null)
        {
            psi.ArgumentList.Add("--group");
            psi.ArgumentList.Add(group);
        }
        psi.ArgumentList.Add("--");
        foreach (var arg in command)
        {
            psi.ArgumentList.Add(arg);
        }
        foreach (var (key, value) in environment)
        {
            psi.Environment[key] = value;
        }
        return psi;
    }

    /// <summary>The home folder of <paramref name="user"/> in /etc/passwd, or null.</summary>
    public static string? HomeOf(string user)
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/passwd"))
            {
                var fields = line.Split(':');
                if (fields.Length >= 6 && fields[0] == user)
                {
                    return fields[5];
                }
            }
        }
        catch (IOException)
        {
        }
        return null;
    }

    /// <summary>
    /// The exec helper's option that makes it wait for one byte on stdin before it does anything (the start's
    /// ProcessStartInfo must redirect stdin): the agent sends it with <see cref="Go"/> once the child's pid is
    /// recorded, so that an agent killed between the start and the record leaves nothing running that the next
    /// agent does not know of (the helper sees stdin end and exits without running the command).
    /// </summary>
    public const string GoOnStdin = "--go-on-stdin";

    /// <summary>Lets a child started with <see cref="GoOnStdin"/> go on: one byte on its stdin, then stdin closed. False when it had ended.</summary>
    public static bool Go(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        try
        {
            using var stdin = process.StandardInput;
            stdin.BaseStream.WriteByte(1);
            stdin.BaseStream.Flush();
            return true;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            return false;
        }
    }
}
