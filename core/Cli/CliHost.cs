using System.CommandLine;
using Belay.Core.IO;

namespace Belay.Core.Cli;

/// <summary>
/// Runs a command line for any of the three executables with the shared exit-code contract:
/// a command line that does not parse exits 2 with what was wrong; a <see cref="BelayException"/>
/// prints its message and exits with its code; Ctrl-C exits 130; anything else is a bug,
/// reported as one.
/// </summary>
public static class CliHost
{
    public static int Run(RootCommand root, string[] args, string program, BuildFacts build)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(build);
        AddStandardCommands(root, program, build);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                Console.Error.WriteLine($"{program}: {error.Message}");
            }
            Console.Error.WriteLine($"Run '{program} {string.Join(' ', CommandPath(parsed.CommandResult.Command))} --help' for usage.".Replace("  ", " ", StringComparison.Ordinal));
            return ExitCodes.Usage;
        }
        try
        {
            // Signals are the commands' own business: the keeper and the agent stop gracefully
            // on SIGTERM and must then exit 0, which System.CommandLine's own handling (cancel,
            // then force exit 130 after a timeout) would turn into a failure.
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (BelayException e)
        {
            Console.Error.WriteLine($"{program}: {e.Message}");
            return e.ExitCode;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"{program}: interrupted");
            return 130;
        }
        catch (Exception e) when (SystemErrors.IsEnvironmental(e))
        {
            // A last resort: the commands name the path and the remedy where they can; what
            // escapes them still gets one line in our words, never the runtime's resource keys.
            var denied = e is UnauthorizedAccessException || e.InnerException is UnauthorizedAccessException;
            Console.Error.WriteLine($"{program}: {SystemErrors.Describe(e)}{(denied ? "; run it as the owner of the files (sudo for a system-wide installation)" : "")}");
            return denied ? ExitCodes.NeedsPrivileges : ExitCodes.Error;
        }
        catch (System.Data.Common.DbException e)
        {
            // The hub's database refused something (a permission, a constraint, a server going away): its words, one line.
            Console.Error.WriteLine($"{program}: the database: {e.Message.ReplaceLineEndings(" ")}");
            return ExitCodes.Error;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"{program}: internal error, please report it: {e}");
            return ExitCodes.Error;
        }
    }

    /// <summary>
    /// What every executable answers the same way: `PROGRAM` alone and `PROGRAM help [COMMAND]`
    /// print help; `--version` and `version` print the version, commit, source date and RID
    /// (`--json` for scripts).
    /// </summary>
    private static void AddStandardCommands(RootCommand root, string program, BuildFacts build)
    {
        foreach (var standard in root.Options.OfType<VersionOption>().ToList())
        {
            root.Options.Remove(standard);
        }
        var versionFlag = new Option<bool>("--version") { Description = "Print the version, commit, source date and runtime identifier." };
        var jsonFlag = new Option<bool>("--json") { Description = "With --version: print it as JSON." };
        root.Options.Add(versionFlag);
        root.Options.Add(jsonFlag);
        root.SetAction(result =>
        {
            if (result.GetValue(versionFlag))
            {
                return PrintVersion(program, build, result.GetValue(jsonFlag));
            }
            if (result.GetValue(jsonFlag))
            {
                throw new BelayException(ExitCodes.Usage, $"--json alone prints nothing: give it with --version, or to a command (run '{program} --help')");
            }
            return ShowHelp(root, program, []);
        });

        var json = new Option<bool>("--json") { Description = "Print it as JSON: program, version, commit, sourceDate, rid." };
        var version = new Command("version", "Print the version, commit, source date and runtime identifier.") { json };
        version.SetAction(result => PrintVersion(program, build, result.GetValue(json)));
        root.Subcommands.Add(version);

        var names = new Argument<string[]>("COMMAND") { Description = "The command to explain, like install or service print.", Arity = ArgumentArity.ZeroOrMore };
        var help = new Command("help", "Show help for a command.") { names };
        help.SetAction(result => ShowHelp(root, program, result.GetValue(names) ?? []));
        root.Subcommands.Add(help);
    }

    private static int ShowHelp(RootCommand root, string program, string[] command)
    {
        Command current = root;
        foreach (var name in command)
        {
            current = current.Subcommands.FirstOrDefault(c => !c.Hidden && (c.Name == name || c.Aliases.Contains(name)))
                ?? throw new BelayException(ExitCodes.Usage, $"no command '{string.Join(' ', command)}' ('{name}' is not a command{(current is RootCommand ? "" : $" of {current.Name}")}); run '{program} --help' for the list");
        }
        return root.Parse([.. command, "--help"]).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    private static int PrintVersion(string program, BuildFacts build, bool json)
    {
        Console.WriteLine(json ? build.ToJson(program) : build.ToLine());
        return ExitCodes.Ok;
    }

    private static Stack<string> CommandPath(Command command)
    {
        var names = new Stack<string>();
        for (Command? c = command; c is not null && c is not RootCommand; c = c.Parents.OfType<Command>().FirstOrDefault())
        {
            names.Push(c.Name);
        }
        return names;
    }

    /// <summary>Reads a secret key's password: the file given, else BELAY_KEY_PASSWORD, else null (unencrypted keys need none).</summary>
    public static string? ReadPassword(FileInfo? passwordFile)
    {
        if (passwordFile is not null)
        {
            if (!passwordFile.Exists)
            {
                throw new BelayException(ExitCodes.Usage, $"password file {passwordFile.FullName} not found");
            }
            try
            {
                return File.ReadAllText(passwordFile.FullName).TrimEnd('\r', '\n');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new BelayException(e is UnauthorizedAccessException ? ExitCodes.NeedsPrivileges : ExitCodes.Error,
                    $"cannot read the password file {passwordFile.FullName}: {SystemErrors.Describe(e)}", e);
            }
        }
        return Environment.GetEnvironmentVariable("BELAY_KEY_PASSWORD");
    }
}
