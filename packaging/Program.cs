using System.CommandLine;
using Belay.Core.Cli;
using Belay.Release.Commands;

namespace Belay.Release;

/// <summary>
/// belay-release: the publisher's tool. Makes keys, packages and signs archives, writes
/// and checks feeds, and serves a feed locally. Everything it writes is a static file.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("belay-release: make keys, package and sign releases, deploy apps to groups, write, verify and serve Belay feeds.")
        {
            KeyCommands.Keygen(),
            FeedCommands.Init(),
            FeedCommands.Publish(),
            FeedCommands.Refresh(),
            ReleaseCommands.Yank(),
            ReleaseCommands.Rollout(),
            ReleaseCommands.List(),
            RootCommands.Create(),
            KeyCommands.Sign(),
            VerifyCommand.Create(),
            FeedCommands.VerifyFeed(),
            ServeCommand.Create(),
            PushCommand.Create(),
            PackageCommand.Create(),
            AppCommands.Create(),
            DeployCommand.Create(),
            InstallersCommand.Create(),
            MsiCommand.Create(),
        };
        root.Subcommands.Add(CompletionScripts.Command(root, "belay-release"));
        return CliHost.Run(root, args, "belay-release", BuildInfo.Facts);
    }
}
