using System.CommandLine;
using Belay.Bootstrapper.Install;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Deploy;
using Belay.Core.Feed;
using Belay.Core.Minisign;
using Belay.Core.Services;

namespace Belay.Bootstrapper.Commands;

/// <summary>`belay install`: from nothing to a running, verified agent.</summary>
internal static class InstallCommand
{
    public static Command Create()
    {
        var installation = new Installation(installs: true);
        var feed = new Option<string[]>("--feed")
        {
            Description = "The feed: https:// URL (http:// on loopback or with --allow-insecure-http), file:// URL or folder; repeat for mirrors.",
            Required = true,
            Arity = ArgumentArity.OneOrMore,
        }.FeedAddress();
        var channel = new Option<string>("--channel") { Description = "The channel to follow.", DefaultValueFactory = _ => FeedLayout.DefaultChannel }.ChannelName();
        var version = new Option<string?>("--version") { Description = "Install and stay on this version instead of following the channel." }.SemanticVersion();
        var serviceManager = new Option<string>("--service-manager") { Description = "auto (detect; on a re-install, keep the current one), systemd, launchd, smf, windows or none (the keeper runs as a detached process: containers).", DefaultValueFactory = _ => "auto" }.OneOf(["auto", .. ServiceManagers.Names]);
        var rootKeys = new Option<string[]>("--root-key") { Description = "Trust this root public key (base64 line or .pub file) instead of the compiled-in one(s); repeat for more.", Arity = ArgumentArity.ZeroOrMore };
        var noStart = new Option<bool>("--no-start") { Description = "Lay everything out but do not start the keeper." };
        var insecure = new Option<bool>("--allow-insecure-http") { Description = "Allow a plain http:// feed (it is still signature-checked) or hub on a non-loopback host." };
        var poll = new Option<string>("--poll-interval") { Description = "How often the agent checks the feed, like 10s or 5m.", DefaultValueFactory = _ => "10s" }.Duration();
        var trial = new Option<string>("--trial-deadline") { Description = "How long a new version has to report ready, like 60s.", DefaultValueFactory = _ => "60s" }.Duration();
        var linkDir = new Option<string?>("--link-dir")
        {
            Description = $"Put a link to belay in this folder, so that it is on PATH (default: {PathLink.SystemFolder} for a system install in the standard places; none for a user install or with --prefix, which say the PATH line to add instead). none: no link.",
        };
        var hub = new Option<string?>("--hub") { Description = "Also connect to this Belay hub (https://…): live logs and the fleet page. Needs --enroll-token the first time." };
        var enrollToken = new Option<string?>("--enroll-token") { Description = "The enrollment token from belay-hub token create, exchanged once for this host's own credential." };
        var hubCa = new Option<FileInfo?>("--hub-ca") { Description = "PEM file of the CA that signed the hub's certificate, when the system store does not know it." };
        var wait = new Option<string>("--wait") { Description = "How long to wait for the agent to report ready, like 60s.", DefaultValueFactory = _ => "60s" }.Duration();
        var group = new Option<string?>("--group") { Description = "The group whose apps this host runs (groups/GROUP.json in the feed). Default: default; a re-install keeps the host's group." };
        var groupIdentity = new Option<string?>("--group-identity") { Description = "The group's age identity file (age-keygen), copied owner-only: what decrypts the secrets of the group's apps." };
        var command = new Command("install", "Install the agent from a feed, register it and start it.")
        {
            feed, channel, version, serviceManager, rootKeys, noStart, insecure, poll, trial, wait, linkDir, group, groupIdentity, hub, enrollToken, hubCa,
        };
        installation.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            var scope = Installation.ParseScope(result.GetValue(installation.Scope));
            Installer.CheckPrivileges(scope);
            var keys = result.GetValue(rootKeys) is { Length: > 0 } given
                ? given.Select(k => VerifyCommand.LoadPublicKey(k, "--root-key")).ToList()
                : [.. RootKeysCommand.Parse(BuildInfo.RootKeys)];
            var request = new InstallRequest(
                result.GetRequiredValue(feed),
                result.GetRequiredValue(channel),
                result.GetValue(version),
                scope,
                result.GetValue(installation.Prefix)?.FullName,
                result.GetRequiredValue(serviceManager),
                keys,
                result.GetValue(noStart),
                result.GetValue(insecure),
                result.GetRequiredValue(poll),
                result.GetRequiredValue(trial),
                Durations.Parse(result.GetRequiredValue(wait)),
                result.GetValue(linkDir),
                ParseGroup(result.GetValue(group)),
                result.GetValue(groupIdentity),
                HubOptions(result.GetValue(hub), result.GetValue(enrollToken), result.GetValue(hubCa), result.GetValue(insecure)));
            return await new Installer(Console.WriteLine).InstallAsync(request, cancel).ConfigureAwait(false);
        });
        return command;
    }

    private static string? ParseGroup(string? group) =>
        group is null || DeployNames.IsValidGroup(group)
            ? group
            : throw new BelayException(ExitCodes.Usage, $"--group '{group}' is not a group name ({DeployNames.GroupRule})");

    private static HubRequest? HubOptions(string? url, string? token, FileInfo? ca, bool insecure)
    {
        if (url is null)
        {
            return token is null && ca is null ? null : throw new BelayException(ExitCodes.Usage, "--enroll-token and --hub-ca go with --hub URL");
        }
        string? pem = null;
        if (ca is not null)
        {
            if (!ca.Exists)
            {
                throw new BelayException(ExitCodes.Usage, $"--hub-ca {ca.FullName} not found");
            }
            pem = File.ReadAllText(ca.FullName);
            _ = Belay.Core.Hub.HubSettings.LoadCa(pem, "--hub-ca " + ca.FullName);
        }
        return new HubRequest(url, token, pem, insecure);
    }
}
