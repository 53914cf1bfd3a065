using System.CommandLine;
using Belay.Core;
using Belay.Core.Programs;

namespace Belay.Bootstrapper.Commands;

/// <summary>
/// `belay start|stop|restart NAME` and `belay reload`: requests on the agent's control
/// channel. stop and restart wait until the program is down (stop_timeout, then SIGKILL to
/// its group). reload re-reads programs.conf: a config with an error is refused with its
/// file, line and field (exit 1), and the running config stays.
/// </summary>
internal static class ProgramCommands
{
    private static readonly TimeSpan Wait = TimeSpan.FromMinutes(5);

    public static Command Start() => ForProgram("start", "START", "Start a program that is stopped, exited or fatal.");

    public static Command Stop() => ForProgram("stop", "STOP", "Stop a program (stop signal to its process group, SIGKILL after stop_timeout); it stays stopped.");

    public static Command Restart() => ForProgram("restart", "RESTART", "Stop a program and start it again (also retries a fatal one).");

    public static Command Reload()
    {
        var installation = new Installation();
        var command = new Command("reload", "Apply programs.conf: start new programs, stop removed ones, restart changed ones; the rest keep running.");
        installation.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            var (config, _) = installation.Locate(result);
            return Report(await AgentClient.SendAsync(ProgramPaths.For(config.Layout), "RELOAD", Wait, cancel).ConfigureAwait(false));
        });
        return command;
    }

    private static Command ForProgram(string name, string verb, string description)
    {
        var installation = new Installation();
        var program = new Argument<string>("NAME") { Description = "The program's name ([program:NAME] in programs.conf)." };
        var command = new Command(name, description) { program };
        installation.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            var (config, _) = installation.Locate(result);
            var target = result.GetRequiredValue(program);
            if (!ProgramsConfig.IsValidName(target))
            {
                throw new BelayException(ExitCodes.Usage, $"'{target}' is not a program name");
            }
            return Report(await AgentClient.SendAsync(ProgramPaths.For(config.Layout), $"{verb} {target}", Wait, cancel).ConfigureAwait(false));
        });
        return command;
    }

    private static int Report(string reply)
    {
        if (reply.StartsWith("OK", StringComparison.Ordinal))
        {
            Console.WriteLine(reply.Length > 3 ? reply[3..] : "ok");
            return ExitCodes.Ok;
        }
        Console.Error.WriteLine($"belay: {(reply.StartsWith("ERR ", StringComparison.Ordinal) ? reply[4..] : reply)}");
        return ExitCodes.Error;
    }
}
