using System.CommandLine;
using Belay.Bootstrapper.Commands;
using Belay.Core.Cli;
using Belay.Core.Feed;

namespace Belay.Bootstrapper;

/// <summary>
/// belay: the bootstrapper and the operator's command line (install, status, update,
/// rollback, uninstall, verify) and the keeper that the service manager starts (run).
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        // How the keeper starts an agent: before anything else, it becomes the agent (see AgentExec).
        if (args.Length > 0 && args[0] == Belay.Keeper.AgentExec.Verb)
        {
            return Belay.Keeper.AgentExec.Run(args[1..]);
        }
        // `belay install` over TLS: the system's roots load while the command line is built and parsed (SystemRoots).
        if (args is ["install", ..] && HttpFeature.IsSupported)
        {
            SystemRoots.PreloadFor(args);
        }
        var root = new RootCommand("belay: install, keep and update the Belay agent.")
        {
            InstallCommand.Create(),
            StatusCommand.Create(),
            ConfigCommand.Create(),
            DoctorCommand.Create(),
            LogsCommand.Create(),
            AppsCommand.Create(),
            ProgramCommands.Start(),
            ProgramCommands.Stop(),
            ProgramCommands.Restart(),
            ProgramCommands.Reload(),
            UpdateCommands.Update(),
            UpdateCommands.Rollback(),
            UninstallCommand.Create(),
            RunCommand.Create(),
            ServiceCommand.Create(),
            MsiCommand.Create(),
            VerifyCommand.Create(),
            RootKeysCommand.Create(BuildInfo.RootKeys),
        };
        root.Subcommands.Add(CompletionScripts.Command(root, "belay"));
        return CliHost.Run(root, args, "belay", BuildInfo.Facts);
    }
}
