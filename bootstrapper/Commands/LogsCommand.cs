using System.CommandLine;
using Belay.Core;
using Belay.Core.Install;
using Belay.Core.Programs;

namespace Belay.Bootstrapper.Commands;

/// <summary>
/// `belay logs [NAME] [--stderr | --deploy] [--app] [-n N] [-f]`: the last N lines of a program's stdout log
/// (NAME.log, which also holds its stderr when it sets redirect_stderr), of its stderr log
/// with --stderr (NAME.err.log), of the agent's own log (NAME = agent, the default) or of the
/// keeper's (keeper); a deployed app's logs the same way (logs/apps/APP.log, APP.err.log, and
/// with --deploy its deploy log, APP.deploy.log); with -f it follows the log live, across rotations, until Ctrl-C. One
/// file at a time, like supervisorctl tail: two streams written without timestamps cannot be
/// merged back into the order they were written in, so it does not pretend to.
/// It reads the files directly: it works while the agent is down, and needs only read access.
/// </summary>
internal static class LogsCommand
{
    public static Command Create()
    {
        var installation = new Installation();
        var name = new Argument<string>("NAME") { Description = "A program, a deployed app, or agent (the default) or keeper.", DefaultValueFactory = _ => "agent" };
        var lines = new Option<int>("-n", "--lines") { Description = "How many lines from the end to print first.", DefaultValueFactory = _ => 20 };
        var follow = new Option<bool>("-f", "--follow") { Description = "Keep printing new lines (across rotations) until interrupted." };
        var stderr = new Option<bool>("--stderr") { Description = "The program's stderr log (NAME.err.log) instead of its stdout log (NAME.log)." };
        var deploy = new Option<bool>("--deploy") { Description = "A deployed app's deploy log: every step and every hook's output (APP.deploy.log)." };
        var app = new Option<bool>("--app") { Description = "NAME is a deployed app (when a program has the same name)." };
        var command = new Command("logs", "Print (and follow) the log of a program, a deployed app, the agent or the keeper.") { name, stderr, deploy, app, lines, follow };
        installation.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            var (config, _) = installation.Locate(result);
            var target = result.GetRequiredValue(name);
            var count = result.GetValue(lines);
            if (count < 0)
            {
                throw new BelayException(ExitCodes.Usage, $"-n {count}: give 0 or more lines");
            }
            var current = result.GetValue(deploy) || result.GetValue(app) || IsApp(config.Layout, target)
                ? ResolveApp(config.Layout, target, result.GetValue(stderr), result.GetValue(deploy))
                : Resolve(config.Layout, target, result.GetValue(stderr));
            await using var output = Console.OpenStandardOutput();
            await LogFollower.RunAsync(current, count, result.GetValue(follow), output, cancel).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A deployed app that no program shadows: it has a journal or logs, and programs.conf has no program of that name.</summary>
    private static bool IsApp(InstallLayout layout, string target)
    {
        if (target is "agent" or "keeper" || !Belay.Core.Deploy.AppPaths.IsValidAppName(target))
        {
            return false;
        }
        var apps = Belay.Core.Deploy.AppPaths.For(layout);
        var programs = ProgramPaths.For(layout);
        if (!File.Exists(apps.Journal(target)) && !File.Exists(apps.Log(target)) && !File.Exists(apps.DeployLog(target)))
        {
            return false;
        }
        return !File.Exists(programs.Log(target)) && ProgramsConfig.Load(programs.ConfigFile).All(p => p.Name != target);
    }

    /// <summary>An app's stdout log (APP.log), stderr log (APP.err.log) or deploy log (APP.deploy.log), in logs/apps/.</summary>
    private static Func<string?> ResolveApp(InstallLayout layout, string target, bool stderr, bool deploy)
    {
        if (!Belay.Core.Deploy.AppPaths.IsValidAppName(target))
        {
            throw new BelayException(ExitCodes.Usage, $"'{target}' is not an app name");
        }
        if (stderr && deploy)
        {
            throw new BelayException(ExitCodes.Usage, "--stderr and --deploy name two different logs; give one");
        }
        var paths = Belay.Core.Deploy.AppPaths.For(layout);
        var log = deploy ? paths.DeployLog(target) : stderr ? paths.ErrLog(target) : paths.Log(target);
        if (!File.Exists(log) && !File.Exists(paths.Journal(target)))
        {
            throw new BelayException($"no app '{target}' on this host (belay apps lists them) and no log {log}");
        }
        return () => log;
    }

    /// <summary>Where the log of <paramref name="target"/> is now (asked again on every poll: rotation changes it).</summary>
    private static Func<string?> Resolve(InstallLayout layout, string target, bool stderr)
    {
        if (stderr && target is "agent" or "keeper")
        {
            throw new BelayException(ExitCodes.Usage, $"--stderr: the {target} has one log; --stderr is for programs");
        }
        switch (target)
        {
            case "agent":
                // Serilog rolls agent.log over to agent_001.log, agent_002.log, ...: the newest is the live one.
                return () => Directory.Exists(layout.LogDir)
                    ? Directory.EnumerateFiles(layout.LogDir, "agent*.log").OrderByDescending(File.GetLastWriteTimeUtc).ThenByDescending(p => p, StringComparer.Ordinal).FirstOrDefault()
                    : null;
            case "keeper":
                return () => layout.KeeperLog;
        }
        if (!ProgramsConfig.IsValidName(target))
        {
            throw new BelayException(ExitCodes.Usage, $"'{target}' is not a program name");
        }
        var paths = ProgramPaths.For(layout);
        var log = stderr ? paths.ErrLog(target) : paths.Log(target);
        if (!File.Exists(log))
        {
            var program = ProgramsConfig.Load(paths.ConfigFile).FirstOrDefault(p => p.Name == target);
            if (program is null)
            {
                throw new BelayException($"no program '{target}' in {paths.ConfigFile} and no log {log}");
            }
            if (stderr && program.RedirectStderr)
            {
                throw new BelayException($"{target} has redirect_stderr = true: its stderr is in {paths.Log(target)} (belay logs {target})");
            }
        }
        return () => log;
    }
}
