using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Bootstrapper.Install;
using Belay.Core;
using Belay.Core.Deploy;
using Belay.Core.Encryption;
using Belay.Core.Install;
using Belay.Core.Services;

namespace Belay.Bootstrapper.Commands;

/// <summary>
/// `belay config show [--json]` and `belay config set KEY VALUE`: read and change config.json
/// without a re-install. The settings that can be set this way are the ones a host changes
/// in place; the rest (feeds, channel, root keys) stay with belay install, which checks them
/// against the feed. A change is validated like the whole file, written atomically (0600),
/// and the keeper is restarted so that the agent reads it (--no-restart: at its next start).
/// </summary>
internal static class ConfigCommand
{
    /// <summary>What `config set` can change, with what it takes.</summary>
    private static readonly Dictionary<string, string> Settable = new(StringComparer.Ordinal)
    {
        ["group"] = DeployNames.GroupRule,
    };

    public static Command Create()
    {
        var showInstallation = new Installation();
        var json = new Option<bool>("--json") { Description = "Print JSON (the token masked)." };
        var show = new Command("show", "Print the installation's settings (config.json, the token masked) and whether it holds a group identity.") { json };
        showInstallation.AddTo(show);
        show.SetAction(result =>
        {
            var (config, path) = showInstallation.Locate(result);
            var report = Report(config, path);
            if (result.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(report, ConfigJsonContext.Default.ConfigReport));
                return ExitCodes.Ok;
            }
            Console.WriteLine($"config:           {report.Config}");
            Console.WriteLine($"feeds:            {string.Join(", ", report.Feeds)}");
            Console.WriteLine($"channel:          {report.Channel}{(report.PinnedVersion is { } v ? $" (pinned to {v})" : "")}");
            Console.WriteLine($"group:            {report.Group}");
            Console.WriteLine($"group identity:   {report.GroupIdentity ?? "none"}");
            Console.WriteLine($"poll interval:    {report.PollInterval}");
            Console.WriteLine($"service manager:  {report.ServiceManager} ({report.Scope} scope)");
            Console.WriteLine($"token:            {report.Token ?? "none"}");
            return ExitCodes.Ok;
        });

        var setInstallation = new Installation();
        var key = new Argument<string>("KEY") { Description = $"The setting: {string.Join(", ", Settable.Keys)}." };
        var value = new Argument<string>("VALUE") { Description = "Its new value." };
        var noRestart = new Option<bool>("--no-restart") { Description = "Only write config.json; the agent reads it at its next start." };
        var set = new Command("set", "Change a setting in config.json (group) and restart the keeper so that the agent takes it.") { key, value, noRestart };
        setInstallation.AddTo(set);
        set.SetAction(async (result, cancel) =>
        {
            var (config, path) = setInstallation.Locate(result);
            var name = result.GetRequiredValue(key);
            var text = result.GetRequiredValue(value);
            if (!Settable.TryGetValue(name, out var rule))
            {
                throw new BelayException(ExitCodes.Usage, $"'{name}' cannot be set here; belay config set takes: {string.Join(", ", Settable.Keys)}. Change the feed, channel or root keys with belay install");
            }
            var scope = Installation.ParseScope(config.Scope);
            Installer.CheckPrivileges(scope);
            if (!DeployNames.IsValidGroup(text))
            {
                throw new BelayException(ExitCodes.Usage, $"group '{text}' is not a group name ({rule})");
            }
            if (config.Group == text)
            {
                Console.WriteLine($"group is already {text}; nothing to do");
                return ExitCodes.Ok;
            }
            var before = config.Group;
            config.Group = text;
            config.Validate(path);
            config.Save(path);
            Console.WriteLine($"group: {before} -> {text} ({path})");
            var layout = config.Layout;
            if (result.GetValue(noRestart) || !Installer.KeeperIsRunning(layout))
            {
                Console.WriteLine(Installer.KeeperIsRunning(layout) ? "the agent takes it at its next start (--no-restart)" : "the keeper is not running; the agent takes it when it starts");
                return ExitCodes.Ok;
            }
            var definition = ServiceDefinition.For(layout, scope);
            ServiceBackends.Create(config.ServiceManager, layout, Console.WriteLine).Restart(definition);
            Console.WriteLine($"restarted the keeper ({config.ServiceManager}) so that the agent follows group {text}");
            return await new Installer(Console.WriteLine).WaitReadyAsync(layout, TimeSpan.FromSeconds(60), cancel).ConfigureAwait(false);
        });
        return new Command("config", "Show or change this installation's settings.") { show, set };
    }

    private static ConfigReport Report(InstallConfig config, string path)
    {
        var identityFile = config.Layout.GroupIdentityFile;
        string? identity = null;
        if (File.Exists(identityFile))
        {
            // The public half only, and only when this user may read the file at all.
            try
            {
                identity = $"{identityFile} (recipient {string.Join(", ", AgeIdentity.ParseFile(File.ReadAllText(identityFile), identityFile).Select(i => i.Recipient))})";
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                identity = $"{identityFile} (not readable by this user)";
            }
            catch (AgeException e)
            {
                identity = $"{identityFile} (not valid: {e.Message})";
            }
        }
        return new ConfigReport
        {
            Config = path,
            Feeds = config.Feeds,
            Channel = config.Channel,
            PinnedVersion = config.PinnedVersion,
            Group = config.Group,
            GroupIdentity = identity,
            PollInterval = config.PollInterval,
            ServiceManager = config.ServiceManager,
            Scope = config.Scope,
            Token = config.Token is null ? null : Belay.Core.Programs.Secrets.Mask,
        };
    }
}

internal sealed class ConfigReport
{
    public string Config { get; set; } = "";
    public List<string> Feeds { get; set; } = [];
    public string Channel { get; set; } = "";
    public string? PinnedVersion { get; set; }
    public string Group { get; set; } = "";
    public string? GroupIdentity { get; set; }
    public string PollInterval { get; set; } = "";
    public string ServiceManager { get; set; } = "";
    public string Scope { get; set; } = "";
    public string? Token { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(ConfigReport))]
internal sealed partial class ConfigJsonContext : JsonSerializerContext;
