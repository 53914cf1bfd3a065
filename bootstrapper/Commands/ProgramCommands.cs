using System.CommandLine;
using System.Text.Json;
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
        var programs = new Argument<string[]>("NAME")
        {
            Description = $"The programs' names ([program:NAME] in programs.conf), or {ProgramsConfig.AllPrograms} for every program.",
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command(name, description + $" {name} {ProgramsConfig.AllPrograms}: every program.") { programs };
        installation.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            var (config, _) = installation.Locate(result);
            var paths = ProgramPaths.For(config.Layout);
            var targets = result.GetRequiredValue(programs).Distinct(StringComparer.Ordinal).ToList();
            foreach (var target in targets)
            {
                if (target != ProgramsConfig.AllPrograms && !ProgramsConfig.IsValidName(target))
                {
                    throw new BelayException(ExitCodes.Usage, $"'{target}' is not a program name");
                }
            }
            if (targets.Contains(ProgramsConfig.AllPrograms))
            {
                // Every program the agent supervises now, as supervisorctl's "all" does.
                var status = await AgentClient.SendAsync(paths, "STATUS", TimeSpan.FromSeconds(10), cancel).ConfigureAwait(false);
                var known = status.StartsWith('[')
                    ? JsonSerializer.Deserialize(status, ProgramsJsonContext.Default.ListProgramStatus) ?? []
                    : throw new BelayException($"the agent did not list its programs: {status}");
                targets = [.. known.Select(p => p.Name)];
                if (targets.Count == 0)
                {
                    Console.WriteLine("no program is configured; nothing to do");
                    return ExitCodes.Ok;
                }
            }
            if (targets.Count == 1)
            {
                return Report(await AgentClient.SendAsync(paths, $"{verb} {targets[0]}", Wait, cancel).ConfigureAwait(false));
            }
            // At once: each request waits for its own program (stop_timeout), not for the others.
            var replies = await Task.WhenAll(targets.Select(t => AgentClient.SendAsync(paths, $"{verb} {t}", Wait, cancel))).ConfigureAwait(false);
            var failed = 0;
            for (var i = 0; i < targets.Count; i++)
            {
                if (Report(replies[i], targets[i]) != ExitCodes.Ok)
                {
                    failed++;
                }
            }
            return failed == 0 ? ExitCodes.Ok : ExitCodes.Error;
        });
        return command;
    }

    private static int Report(string reply, string? program = null)
    {
        if (reply.StartsWith("OK", StringComparison.Ordinal))
        {
            Console.WriteLine(reply.Length > 3 ? reply[3..] : program is null ? "ok" : $"{program}: ok");
            return ExitCodes.Ok;
        }
        Console.Error.WriteLine($"belay: {(reply.StartsWith("ERR ", StringComparison.Ordinal) ? reply[4..] : reply)}");
        return ExitCodes.Error;
    }
}
