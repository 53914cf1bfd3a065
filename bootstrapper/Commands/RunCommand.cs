using System.CommandLine;
using Belay.Bootstrapper.Keeper;
using Belay.Core.Install;
using Belay.Core.IO;

namespace Belay.Bootstrapper.Commands;

/// <summary>`belay run`: the keeper, what the service manager (or `belay install` with the none manager) starts.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var installation = new Installation();
        var config = new Option<FileInfo?>("--config") { Description = "The installation's config.json (default: found from --prefix/--scope)." };
        var detach = new Option<bool>("--detach") { Description = "Start a new session first (used when no service manager runs the keeper)." };
        var command = new Command("run", "Run the keeper: start the agent, restart it, switch versions, give them a trial, roll back.") { config, detach };
        installation.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            if (result.GetValue(detach) && !OperatingSystem.IsWindows())
            {
                Posix.NewSession();
            }
            var (settings, path) = result.GetValue(config) is { } file
                ? (InstallConfig.Load(file.FullName), file.FullName)
                : installation.Locate(result);
            using var host = new KeeperHost(settings, path, TimeProvider.System);
            return await host.RunAsync(cancel).ConfigureAwait(false);
        });
        return command;
    }
}
