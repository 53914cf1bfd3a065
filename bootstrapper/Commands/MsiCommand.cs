using System.CommandLine;
using Belay.Bootstrapper.Install;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Install;
using Belay.Core.Minisign;
using Belay.Core.Services;
using Belay.Core.Services.Windows;

namespace Belay.Bootstrapper.Commands;

/// <summary>
/// `belay msi configure|remove`: the MSI's custom actions (installers/windows/belay.wxs), run by
/// Windows Installer as LocalSystem; hidden from help, since nobody else runs them. Each says
/// what it did on stdout, which a verbose MSI log (/l*v) records.
/// </summary>
internal static class MsiCommand
{
    public static Command Create()
    {
        var version = new Option<string>("--version") { Description = "The agent version the MSI installed.", Required = true };
        var feed = new Option<string>("--feed") { Description = "FEED (empty: keep the configured one).", DefaultValueFactory = _ => "" };
        var channel = new Option<string>("--channel") { Description = "CHANNEL (empty: keep).", DefaultValueFactory = _ => "" };
        var token = new Option<string>("--token") { Description = "TOKEN (empty: keep).", DefaultValueFactory = _ => "" };
        var rootKey = new Option<string>("--root-key") { Description = "ROOTKEY (empty: keep, else the compiled-in key).", DefaultValueFactory = _ => "" };
        var group = new Option<string>("--group") { Description = "GROUP (empty: keep, default for a new install).", DefaultValueFactory = _ => "" };
        var groupIdentity = new Option<string>("--group-identity") { Description = "GROUP_IDENTITY: the group's age identity file (empty: keep).", DefaultValueFactory = _ => "" };
        var hub = new Option<string>("--hub") { Description = "HUB (empty: no hub, or keep the one enrolled).", DefaultValueFactory = _ => "" };
        var enrollToken = new Option<string>("--enroll-token") { Description = "ENROLL_TOKEN, with HUB.", DefaultValueFactory = _ => "" };
        var hubCa = new Option<string>("--hub-ca") { Description = "HUB_CA: a PEM file, with HUB.", DefaultValueFactory = _ => "" };
        var configure = new Command("configure", "Write config.json and state.json from the MSI's properties and set the service's recovery actions and delayed start.")
        {
            version, feed, channel, token, rootKey, group, groupIdentity, hub, enrollToken, hubCa,
        };
        configure.SetAction(async (result, cancel) =>
        {
            RequireWindows();
            var layout = InstallLayout.For(InstallScope.System, null);
            var key = result.GetRequiredValue(rootKey);
            IReadOnlyList<MinisignPublicKey> keys = key.Length > 0 ? [VerifyCommand.LoadPublicKey(key, "--root-key")]
                : File.Exists(layout.ConfigFile) ? [] : RootKeysCommand.Parse(BuildInfo.RootKeys);
            var settings = new MsiSettings(result.GetRequiredValue(version), result.GetRequiredValue(feed).Trim(),
                result.GetRequiredValue(channel).Trim(), result.GetRequiredValue(token), keys,
                result.GetRequiredValue(group).Trim(), result.GetRequiredValue(groupIdentity).Trim());
            // The hub first: a refused enrollment token fails the install (exit 3) before config.json is written.
            var hubRequest = result.GetRequiredValue(hub).Trim() is { Length: > 0 } hubUrl
                ? new HubRequest(hubUrl, result.GetRequiredValue(enrollToken).Trim() is { Length: > 0 } t ? t : null, ReadCa(result.GetRequiredValue(hubCa).Trim()), false)
                : null;
            var hostId = File.Exists(layout.HostIdFile) ? File.ReadAllText(layout.HostIdFile).Trim() : "";
            var enrolled = await HubInstall.EnrollAsync(hubRequest, layout, hostId, Belay.Core.IO.OwnerOnlyScope.System, Console.WriteLine, cancel).ConfigureAwait(false);
            MsiSetup.Configure(layout, settings, TimeProvider.System, Console.WriteLine);
            HubInstall.Save(enrolled, layout, Belay.Core.IO.OwnerOnlyScope.System);
            if (OperatingSystem.IsWindows())
            {
                var definition = ServiceDefinition.For(layout, InstallScope.System);
                IReadOnlyList<string> unknown;
                try
                {
                    unknown = WindowsServiceSettings.Apply(NativeServiceControlManager.Instance, definition);
                }
                catch (ServiceControlException e) when (e.Error == Scm.ErrorServiceDoesNotExist)
                {
                    // InstallServices registered it a moment ago, yet the service control manager this
                    // process reached does not know it. Seen under Wine when msiexec runs right after
                    // wineboot -i: a second services.exe starts as msiexec starts, while wineboot's still
                    // runs, and both answer (each connection reaches one or the other), each with the list
                    // of services it read at its start. StartServices would fail (ERROR_SERVICE_DOES_NOT_EXIST)
                    // on whichever does not know it: register it with every one a connection reaches, until
                    // several connections in a row find it known. (Under Wine 8 StartServices then still
                    // fails with ERROR_SERVICE_DATABASE_LOCKED, and the install rolls back: docs/install.md.)
                    var registered = new WindowsServiceBackend(NativeServiceControlManager.Instance).RegisterWithEveryManager(definition);
                    Console.WriteLine($"the service control manager does not know the service {WindowsServiceBackend.ServiceName(definition)} that InstallServices registered (a second services.exe, as under Wine right after wineboot); registered it {registered} more time(s), until {WindowsServiceBackend.KnownInARow} connections in a row knew it");
                    unknown = [];
                }
                var (actions, _) = WindowsServiceBackend.Recovery(definition);
                Console.WriteLine($"service {WindowsServiceBackend.ServiceName(definition)}: delayed automatic start, recovery {actions}, also on non-crash failures" +
                    (unknown.Count > 0 ? $" (this service control manager does not know: {string.Join(", ", unknown)})" : ""));
            }
            return ExitCodes.Ok;
        });

        // Rollback (the install failed) and commit (it succeeded): see MsiSetup.
        var rollback = new Command("rollback", "Undo what configure created on a first install (the MSI's rollback action).");
        rollback.SetAction(_ =>
        {
            RequireWindows();
            var layout = InstallLayout.For(InstallScope.System, null);
            var fresh = File.Exists(MsiSetup.MarkerPath(layout));
            MsiSetup.Rollback(layout, Console.WriteLine);
            if (fresh && OperatingSystem.IsWindows())
            {
                // Windows Installer deletes the service it registered when it rolls InstallServices back; Wine's does not.
                try
                {
                    var definition = ServiceDefinition.For(layout, InstallScope.System);
                    if (new WindowsServiceBackend(NativeServiceControlManager.Instance).Uninstall(definition))
                    {
                        Console.WriteLine($"rollback: deleted the service {WindowsServiceBackend.ServiceName(definition)}");
                    }
                }
                catch (BelayException e)
                {
                    Console.WriteLine($"rollback: the service stays registered: {e.Message}");
                }
            }
            return ExitCodes.Ok; // a rollback action never fails the rollback
        });
        var commit = new Command("commit", "Forget what configure created: the install succeeded (the MSI's commit action).");
        commit.SetAction(_ =>
        {
            RequireWindows();
            MsiSetup.Commit(InstallLayout.For(InstallScope.System, null));
            return ExitCodes.Ok;
        });

        var purge = new Option<string>("--purge") { Description = "PURGE: 1 also removes config, state and logs.", DefaultValueFactory = _ => "" };
        var remove = new Command("remove", "Remove what the MSI did not install (downloaded agent versions; with --purge 1 the config, state and logs).") { purge };
        remove.SetAction(result =>
        {
            RequireWindows();
            var layout = InstallLayout.For(InstallScope.System, null);
            // StopServices may return before the keeper's process has exited (seen under Wine): removing its folders
            // under a keeper that still writes its log and state brings them back.
            KeeperExit.WaitOrEnd(layout, KeeperExit.Grace, Console.WriteLine);
            MsiSetup.Remove(layout, result.GetRequiredValue(purge).Trim() is "1" or "yes" or "true", Console.WriteLine);
            return ExitCodes.Ok;
        });
        var msi = new Command("msi", "The Windows installer's custom actions (run by msiexec, not by hand).") { configure, rollback, commit, remove };
        msi.Hidden = true;
        return msi;
    }

    private static string? ReadCa(string path)
    {
        if (path.Length == 0)
        {
            return null;
        }
        if (!File.Exists(path))
        {
            throw new BelayException(ExitCodes.Usage, $"HUB_CA {path} not found");
        }
        return File.ReadAllText(path);
    }

    private static void RequireWindows()
    {
        if (!OperatingSystem.IsWindows())
        {
            throw new BelayException(ExitCodes.Usage, "belay msi is run by the Windows installer (msiexec), on Windows only");
        }
    }
}
