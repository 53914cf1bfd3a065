using System.CommandLine;
using Belay.Core.Cli;

namespace Belay.Agent;

/// <summary>
/// belay-agent: the supervisor and feed poller that the keeper starts. Polling, staging and
/// supervision arrive with the keeper work; this build carries the compiled-in root of trust.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("belay-agent: the Belay agent (started by `belay run`, not by hand).")
        {
            RootKeysCommand.Create(BuildInfo.RootKeys),
        };
        return CliHost.Run(root, args, "belay-agent");
    }
}
