using System.CommandLine;
using Belay.Bootstrapper.Keeper;
using Belay.Core;
using Belay.Core.IO;
using Belay.Core.Install;
using Belay.Core.Services.Windows;
using Belay.Keeper;

namespace Belay.Bootstrapper.Commands;

/// <summary>
/// `belay run`: the keeper, what the service manager (or `belay install` with the none manager)
/// starts. On Unix it finds the installation's config, then replaces itself (execve: same pid,
/// so the service manager's view of the service does not change) with the installation's
/// bin/belay-keeper, an executable that holds the keeper alone: the operator's CLI (install,
/// TLS, System.CommandLine) then takes no memory on the host for as long as the keeper runs
/// (docs/architecture.md, "Footprint"). On Windows the keeper runs in this process.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var installation = new Installation();
        var config = new Option<FileInfo?>("--config") { Description = "The installation's config.json (default: found from --prefix/--scope)." };
        var detach = new Option<bool>("--detach") { Description = "Start a new session first (used when no service manager runs the keeper)." };
        var log = new Option<FileInfo?>("--log") { Description = $"Write the keeper's and the agent's output to this file, rotated past {KeeperLog.MaxBytes / (1024 * 1024)} MB ({KeeperLog.Backups} kept), instead of stdout (Unix)." };
        var service = new Option<bool>(WindowsServiceBackend.ServiceFlag) { Description = "Run as a Windows service (what the service control manager starts; Windows only)." };
        var command = new Command("run", "Run the keeper: start the agent, restart it, switch versions, give them a trial, roll back.") { config, detach, log, service };
        installation.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            if (result.GetValue(log) is not null && OperatingSystem.IsWindows())
            {
                throw new BelayException(ExitCodes.Usage, "--log is for Unix; the Windows service writes keeper.log itself");
            }
            if (result.GetValue(service) && !OperatingSystem.IsWindows())
            {
                throw new BelayException(ExitCodes.Usage, $"{WindowsServiceBackend.ServiceFlag} is for the Windows service control manager; on this system run the keeper without it");
            }
            var (settings, path) = result.GetValue(config) is { } file
                ? (InstallConfig.Load(file.FullName), file.FullName)
                : installation.Locate(result);
            // Nothing is written through a link planted in the installation, the log included.
            LayoutGuard.Check(settings.Layout);
            if (!OperatingSystem.IsWindows())
            {
                return ExecKeeper(settings.Layout, path, result.GetValue(detach), result.GetValue(log)?.FullName);
            }
            if (result.GetValue(service))
            {
                return WindowsServiceHost.Run(settings, path);
            }
            using var host = new KeeperHost(settings, path, TimeProvider.System);
            return await host.RunAsync(cancel).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>Replaces this process with bin/belay-keeper; returns only when that failed.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static int ExecKeeper(InstallLayout layout, string configPath, bool detach, string? log)
    {
        var keeper = layout.KeeperExe;
        if (!File.Exists(keeper))
        {
            throw new BelayException($"{keeper} is missing: this installation predates the separate keeper, or it was removed. Run belay install again (it lays out belay and belay-keeper).");
        }
        List<string> argv = [keeper, "--config", configPath];
        if (detach)
        {
            argv.Add("--detach");
        }
        if (log is not null)
        {
            argv.AddRange(["--log", log]);
        }
        PosixProcess.ResetSignals();
        var errno = PosixProcess.Exec(argv);
        throw new BelayException($"cannot start the keeper {keeper} (errno {errno})");
    }
}
