using System.CommandLine;
using Belay.Core.Cli;
using Belay.Hub.Cli;

namespace Belay.Hub;

/// <summary>
/// belay-hub: the optional fleet hub. `serve` runs it; the other commands administer its data
/// database directly (they work while it serves: SQLite in WAL mode, or PostgreSQL, and the
/// serving hub notices revocations within half a second); `migrate` brings a database's schema up to date.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("belay-hub: the Belay fleet hub (agents' live connection, live logs, the fleet on a web page).")
        {
            ServeCommand.Create(),
            ServeCommand.Migrate(),
            AdminCommands.Token(),
            AdminCommands.Hosts(),
            AdminCommands.User(),
            AdminCommands.Audit(),
        };
        root.Options.Add(DataOption.Database);
        return CliHost.Run(root, args, "belay-hub", BuildInfo.Facts);
    }
}
