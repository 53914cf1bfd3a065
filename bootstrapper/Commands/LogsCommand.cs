using System.CommandLine;
using Belay.Core;
using Belay.Core.Install;
using Belay.Core.Programs;

namespace Belay.Bootstrapper.Commands;

/// <summary>
/// `belay logs [NAME] [--stderr] [-n N] [-f]`: the last N lines of a program's stdout log
/// (NAME.log, which also holds its stderr when it sets redirect_stderr), of its stderr log
/// with --stderr (NAME.err.log), of the agent's own log (NAME = agent, the default) or of the
/// keeper's (keeper); with -f it follows the log live, across rotations, until Ctrl-C. One
/// file at a time, like supervisorctl tail: two streams written without timestamps cannot be
/// merged back into the order they were written in, so it does not pretend to.
/// It reads the files directly: it works while the agent is down, and needs only read access.
/// </summary>
internal static class LogsCommand
{
    public static Command Create()
    {
        var installation = new Installation();
        var name = new Argument<string>("NAME") { Description = "A program, or agent (the default) or keeper.", DefaultValueFactory = _ => "agent" };
        var lines = new Option<int>("-n", "--lines") { Description = "How many lines from the end to print first.", DefaultValueFactory = _ => 20 };
        var follow = new Option<bool>("-f", "--follow") { Description = "Keep printing new lines (across rotations) until interrupted." };
        var stderr = new Option<bool>("--stderr") { Description = "The program's stderr log (NAME.err.log) instead of its stdout log (NAME.log)." };
        var command = new Command("logs", "Print (and follow) the log of a program, the agent or the keeper.") { name, stderr, lines, follow };
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
            var current = Resolve(config.Layout, target, result.GetValue(stderr));
            await using var output = Console.OpenStandardOutput();
            await LogFollower.RunAsync(current, count, result.GetValue(follow), output, cancel).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
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
                // The agent rolls agent.log over to agent.log.1, .2, ... (agents before 0.2 rolled it to
                // agent_001.log, agent_002.log, ...): the newest *.log is the live one.
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
