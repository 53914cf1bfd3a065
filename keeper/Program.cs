using Belay.Core;
using Belay.Core.Install;
using Belay.Core.IO;

namespace Belay.Keeper;

/// <summary>
/// belay-keeper: the keeper (docs/architecture.md, "Processes"). The service manager starts
/// `belay run`, which finds the installation's config and replaces itself (execve, same pid)
/// with `belay-keeper --config CONFIG [--detach] [--log FILE]`: the process that stays up on
/// every host then holds the keeper's code only, not the operator's CLI. Its command line is
/// read here without System.CommandLine, for the same reason.
/// </summary>
internal static class Program
{
    private const string Usage = """
        belay-keeper: the Belay keeper (started by `belay run`, not by hand).

        Usage:
          belay-keeper --config CONFIG [--detach] [--log FILE]
            --config CONFIG  the installation's config.json
            --detach         start a new session first (no service manager runs the keeper)
            --log FILE       write the keeper's and the agent's output to FILE, rotated by size
          belay-keeper agent-exec AGENT ARGS...   what the keeper starts an agent with (not for people)
          belay-keeper --version [--json]
        """;

    public static int Main(string[] args)
    {
        // How the keeper starts an agent: before anything else, it becomes the agent (see AgentExec).
        if (args.Length > 0 && args[0] == AgentExec.Verb)
        {
            return AgentExec.Run(args[1..]);
        }
        // Started from a shell's `... &` (an init script, nohup in a CI job) the keeper inherits SIGINT ignored
        // and would not stop on it, unlike a keeper a service manager starts; before Console is touched.
        if (!OperatingSystem.IsWindows())
        {
            PosixProcess.StopIgnoringInterrupts();
        }
        string? config = null;
        string? log = null;
        var detach = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--config" when i + 1 < args.Length:
                    config = args[++i];
                    break;
                case "--log" when i + 1 < args.Length:
                    log = args[++i];
                    break;
                case "--detach":
                    detach = true;
                    break;
                case "--version" or "version":
                    Console.Out.WriteLine(args.Contains("--json") ? BuildInfo.Facts.ToJson("belay-keeper") : BuildInfo.Facts.ToLine());
                    return ExitCodes.Ok;
                case "--help" or "-h" or "help":
                    Console.Out.WriteLine(Usage.TrimEnd());
                    return ExitCodes.Ok;
                default:
                    return UsageError($"unknown or incomplete option '{args[i]}'");
            }
        }
        if (config is null)
        {
            return UsageError("--config CONFIG is required");
        }
        try
        {
            return Run(Path.GetFullPath(config), detach, log).GetAwaiter().GetResult();
        }
        catch (BelayException e)
        {
            Console.Error.WriteLine($"belay-keeper: {e.Message}");
            return e.ExitCode;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"belay-keeper: internal error, please report it: {e}");
            return ExitCodes.Error;
        }
    }

    private static int UsageError(string message)
    {
        Console.Error.WriteLine($"belay-keeper: {message}");
        Console.Error.WriteLine("Run 'belay-keeper --help' for usage.");
        return ExitCodes.Usage;
    }

    private static async Task<int> Run(string configPath, bool detach, string? log)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new BelayException(ExitCodes.Usage, "on Windows the keeper runs inside belay.exe (belay run); belay-keeper is for Unix");
        }
        if (detach)
        {
            Posix.NewSession();
        }
        var settings = InstallConfig.Load(configPath);
        // Nothing is written through a link planted in the installation, the log included.
        LayoutGuard.Check(settings.Layout);
        if (log is not null)
        {
            KeeperLog.Open(Path.GetFullPath(log));
        }
        using var host = new KeeperHost(settings, configPath, TimeProvider.System);
        return await host.RunAsync(CancellationToken.None).ConfigureAwait(false);
    }
}
