using System.CommandLine;
using Belay.Bootstrapper.Install;
using Belay.Core;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Services;

namespace Belay.Bootstrapper.Commands;

/// <summary>`belay uninstall [--purge]`: stop everything and remove the binaries (and with --purge config, state and logs).</summary>
internal static class UninstallCommand
{
    public static Command Create()
    {
        var installation = new Installation();
        var purge = new Option<bool>("--purge") { Description = "Also remove config, state (host id, watermark) and logs." };
        var command = new Command("uninstall", "Stop the keeper and the agent and remove Belay.") { purge };
        installation.AddTo(command);
        command.SetAction(result =>
        {
            var (config, _) = installation.Locate(result);
            var layout = config.Layout;
            // Not while an install or update writes into it; the lock's file goes with the state folder on --purge.
            using var installLock = InstallLock.Acquire(layout, "uninstall");
            var definition = ServiceDefinition.For(layout, Installation.ParseScope(config.Scope));
            var backend = ServiceBackends.Create(config.ServiceManager, layout, Console.WriteLine);
            if (backend.Uninstall(definition) && backend.Name != "none")
            {
                Console.WriteLine($"stopped the keeper and removed its {backend.Name} registration");
            }
            // Whatever the manager, no keeper of this installation may outlive it: one a manager was still stopping (its
            // stop may return before the process is gone: launchd's bootout, SMF's disable without -s, the Windows SCM)
            // would write its log and state into the folders removed below, and bring them back; it is waited for.
            new DetachedKeeper(layout, Console.WriteLine).Stop(definition);
            KeeperExit.WaitOrEnd(layout, KeeperExit.Grace, Console.WriteLine);
            if (PathLink.Remove(config.Paths.Link, layout.BelayExe, Console.WriteLine))
            {
                Console.WriteLine($"removed the link {config.Paths.Link}");
            }
            // The binaries: versions and bin/. BinRoot itself may hold config and state (with --prefix).
            Remove(layout.VersionsDir);
            Remove(Path.GetDirectoryName(layout.BelayExe)!);
            if (result.GetValue(purge))
            {
                Remove(layout.ConfigDir);
                Remove(layout.StateDir);
                Remove(layout.LogDir);
                RemoveIfEmpty(layout.BinRoot);
                Console.WriteLine($"removed Belay from {layout.BinRoot}, with its config, state and logs");
            }
            else
            {
                // Without config.json there is no installation. The state stays: the host id
                // (its rollout bucket), the highest manifest sequence seen and the bad versions,
                // so that a reinstall neither replays an old feed nor takes a known-bad version.
                File.Delete(layout.ConfigFile);
                Console.WriteLine($"removed Belay from {layout.BinRoot}; kept {layout.StateDir} (host id, sequence seen, bad versions) and {layout.LogDir} (--purge removes them)");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Remove(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException(e is UnauthorizedAccessException ? ExitCodes.NeedsPrivileges : ExitCodes.Error,
                $"cannot remove {dir}: {SystemErrors.Describe(e)}{(e is UnauthorizedAccessException ? "; run it as the installation's owner (sudo for a system-wide one)" : "")}. The keeper is stopped; run belay uninstall again once that is fixed", e);
        }
    }

    private static void RemoveIfEmpty(string dir)
    {
        if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any())
        {
            Directory.Delete(dir);
        }
    }
}
