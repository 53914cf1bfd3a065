using System.CommandLine;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Install;
using Belay.Core.Programs;

namespace Belay.Bootstrapper.Commands;

/// <summary>
/// `belay logs [NAME...] [--stderr | --deploy] [--app] [-n N] [-f]`: the last N lines of logs, then (with -f)
/// what they get next, live, across rotations, until Ctrl-C. A NAME is a program (its stdout log
/// NAME.log, which also holds its stderr when it sets redirect_stderr; NAME.err.log with
/// --stderr), a deployed app (logs/apps/APP.log, APP.err.log with --stderr, and with --deploy its
/// deploy log, APP.deploy.log: every step and hook's output), agent (the agent's own log) or
/// keeper. Without a NAME: every program. One log prints as it is; several are merged line by
/// line, each line behind its log's name, as `docker compose logs` does. Lines keep the order
/// they are read in, which for logs written without timestamps is the only order there is: the
/// tails come one log after the other, and with -f new lines as they arrive.
/// It reads the files directly: it works while the agent is down, and needs only read access.
/// </summary>
internal static class LogsCommand
{
    public static Command Create()
    {
        var installation = new Installation();
        var names = new Argument<string[]>("NAME") { Description = "Programs, deployed apps, or agent or keeper; several are merged. Default: every program.", Arity = ArgumentArity.ZeroOrMore };
        var lines = CliOptions.WholeNumber("-n", "How many lines from the end of each log to print first.", 20, 0, 1_000_000, "--lines");
        var follow = new Option<bool>("-f", "--follow") { Description = "Keep printing new lines (across rotations) until interrupted." };
        var stderr = new Option<bool>("--stderr") { Description = "The stderr logs (NAME.err.log) instead of the stdout logs (NAME.log)." };
        var deploy = new Option<bool>("--deploy") { Description = "A deployed app's deploy log: every step and every hook's output (APP.deploy.log)." };
        var app = new Option<bool>("--app") { Description = "The NAMEs are deployed apps (when a program has the same name)." };
        var command = new Command("logs", "Print (and follow) the logs of programs, deployed apps, the agent or the keeper; without a name, every program's, merged.")
        {
            names, stderr, deploy, app, lines, follow,
        };
        installation.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            var (config, _) = installation.Locate(result);
            var layout = config.Layout;
            var wantStderr = result.GetValue(stderr);
            var targets = (result.GetValue(names) ?? []).Distinct(StringComparer.Ordinal).ToList();
            if (targets.Count == 0)
            {
                targets = [.. AllPrograms(layout)];
                if (targets.Count == 0)
                {
                    Console.Error.WriteLine($"belay: no program is configured ({ProgramPaths.For(layout).ConfigFile}); the agent's log is belay logs agent, the keeper's belay logs keeper");
                    return ExitCodes.Ok;
                }
            }
            var wantDeploy = result.GetValue(deploy);
            var wantApp = result.GetValue(app);
            var logs = targets.Select(t => (Name: t, Path: wantDeploy || wantApp || IsApp(layout, t)
                ? ResolveApp(layout, t, wantStderr, wantDeploy)
                : Resolve(layout, t, wantStderr))).ToList();
            var count = result.GetValue(lines);
            var following = result.GetValue(follow);
            await using var output = Console.OpenStandardOutput();
            if (logs.Count == 1)
            {
                await LogFollower.RunAsync(logs[0].Path, count, following, output, cancel).ConfigureAwait(false);
                return ExitCodes.Ok;
            }
            using var outputLock = new SemaphoreSlim(1, 1);
            var width = logs.Max(l => l.Name.Length);
            var writers = logs.Select(l => new LinePrefixStream(output, outputLock, LinePrefixStream.PrefixFor(l.Name, width))).ToList();
            try
            {
                if (following)
                {
                    await Task.WhenAll(logs.Select((l, i) => LogFollower.RunAsync(l.Path, count, follow: true, writers[i], cancel))).ConfigureAwait(false);
                }
                else
                {
                    for (var i = 0; i < logs.Count; i++)
                    {
                        await LogFollower.RunAsync(logs[i].Path, count, follow: false, writers[i], cancel).ConfigureAwait(false);
                        await writers[i].FinishAsync(cancel).ConfigureAwait(false);
                    }
                }
            }
            finally
            {
                foreach (var writer in writers)
                {
                    await writer.DisposeAsync().ConfigureAwait(false);
                }
            }
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
        return !File.Exists(programs.Log(target)) && (!File.Exists(programs.ConfigFile) || ProgramsConfig.Load(programs.ConfigFile).All(p => p.Name != target));
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

    /// <summary>Every program: those in programs.conf, and those that have a log though the config no longer names them.</summary>
    private static SortedSet<string> AllPrograms(InstallLayout layout)
    {
        var paths = ProgramPaths.For(layout);
        var names = new SortedSet<string>(StringComparer.Ordinal);
        if (File.Exists(paths.ConfigFile))
        {
            try
            {
                names.UnionWith(ProgramsConfig.Load(paths.ConfigFile).Select(p => p.Name));
            }
            catch (BelayException e)
            {
                Console.Error.WriteLine($"belay: warning: {e.Message}; showing the programs that have logs");
            }
        }
        if (Directory.Exists(paths.LogDir))
        {
            names.UnionWith(Directory.EnumerateFiles(paths.LogDir, "*.log")
                .Select(Path.GetFileNameWithoutExtension)
                .OfType<string>()
                .Where(n => !n.EndsWith(ProgramsConfig.StderrSuffix, StringComparison.Ordinal) && ProgramsConfig.IsValidName(n)));
        }
        return names;
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
            var program = (File.Exists(paths.ConfigFile) ? ProgramsConfig.Load(paths.ConfigFile) : []).FirstOrDefault(p => p.Name == target);
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
