using System.CommandLine;

namespace Belay.Core.Cli;

/// <summary>
/// Runs a command line for any of the three executables with the shared exit-code contract:
/// a command line that does not parse exits 2 with what was wrong; a <see cref="BelayException"/>
/// prints its message and exits with its code; Ctrl-C exits 130; anything else is a bug,
/// reported as one.
/// </summary>
public static class CliHost
{
    public static int Run(RootCommand root, string[] args, string program)
    {
        ArgumentNullException.ThrowIfNull(root);
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
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"{program}: internal error, please report it: {e}");
            return ExitCodes.Error;
        }
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
            return File.ReadAllText(passwordFile.FullName).TrimEnd('\r', '\n');
        }
        return Environment.GetEnvironmentVariable("BELAY_KEY_PASSWORD");
    }
}
