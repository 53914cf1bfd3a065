using System.CommandLine;
using Belay.Core.Cli;

namespace Belay.Bootstrapper;

/// <summary>
/// belay: the bootstrapper and the operator's command line. Install, update, rollback,
/// status and the keeper (`belay run`) arrive with the install work; this build carries
/// verification and the compiled-in root of trust.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("belay: install, keep and update the Belay agent.")
        {
            VerifyCommand.Create(),
            RootKeysCommand.Create(BuildInfo.RootKeys),
        };
        return CliHost.Run(root, args, "belay");
    }
}
