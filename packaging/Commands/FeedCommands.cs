using System.CommandLine;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Feed;
using Belay.Core.Publishing;

namespace Belay.Release.Commands;

/// <summary>init, publish and verify-feed: write a feed and check one, locally or over HTTP.</summary>
internal static class FeedCommands
{
    public static Command Init()
    {
        var feed = new Option<DirectoryInfo>("--feed") { Description = "The feed folder (created if missing).", Required = true };
        var rootKey = new Option<FileInfo>("--root-key") { Description = "The root secret key that signs root.json.", Required = true };
        var releaseKeys = new Option<string[]>("--release-key")
        {
            Description = "A release public key (base64 line or .pub file) allowed to sign channels; repeat for more.",
            Required = true,
            Arity = ArgumentArity.OneOrMore,
        };
        var deployKeys = new Option<string[]>("--deploy-key")
        {
            Description = "A deploy public key (base64 line or .pub file) allowed to sign group documents (belay-release deploy); repeat for more. It may not also be a release or root key.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var expires = new Option<string>("--expires") { Description = "How long root.json is valid, like 365d.", DefaultValueFactory = _ => "365d" }.Duration();
        var product = new Option<string>("--product") { Description = "The product this feed carries.", DefaultValueFactory = _ => FeedLayout.DefaultProduct };
        var passwordFile = new Option<FileInfo?>("--password-file") { Description = "The root key's password (or BELAY_KEY_PASSWORD)." };
        var force = new Option<bool>("--force") { Description = "Replace an existing root.json (its version goes up by one)." };
        var command = new Command("init", "Create a feed: root.json listing the release keys (and the deploy keys), signed by the root key.")
        {
            feed, rootKey, releaseKeys, deployKeys, expires, product, passwordFile, force,
        };
        command.SetAction(result =>
        {
            var dir = result.GetRequiredValue(feed).FullName;
            var secret = KeyCommands.LoadSecretKey(result.GetRequiredValue(rootKey), CliHost.ReadPassword(result.GetValue(passwordFile)));
            var keys = result.GetRequiredValue(releaseKeys).Select(k => VerifyCommand.LoadPublicKey(k, "--release-key")).ToList();
            Directory.CreateDirectory(dir);
            var deploy = (result.GetValue(deployKeys) ?? []).Select(k => VerifyCommand.LoadPublicKey(k, "--deploy-key")).ToList();
            new FeedPublisher(Console.WriteLine).Init(dir, secret, keys, Durations.Parse(result.GetRequiredValue(expires)),
                result.GetRequiredValue(product), result.GetValue(force), deploy);
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Publish()
    {
        var feed = new Option<DirectoryInfo>("--feed") { Description = "The feed folder (made by init).", Required = true };
        var channel = new Option<string>("--channel") { Description = "The channel to publish on.", DefaultValueFactory = _ => FeedLayout.DefaultChannel }.ChannelName();
        var version = new Option<string>("--version") { Description = "The release's semantic version, like 1.4.2.", Required = true }.SemanticVersion();
        var artifacts = new Option<string[]>("--artifact")
        {
            Description = "An agent archive for a RID: RID=PATH (.tar.gz, .zip for win-*); repeat per RID.",
            Required = true,
            Arity = ArgumentArity.OneOrMore,
        };
        var bootstrap = new Option<string[]>("--bootstrap")
        {
            Description = "A bootstrapper (belay) binary for a RID: RID=PATH; repeat per RID.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var key = new Option<FileInfo>("--key") { Description = "The release secret key (listed in root.json).", Required = true };
        var passwordFile = new Option<FileInfo?>("--password-file") { Description = "The key's password (or BELAY_KEY_PASSWORD)." };
        var rollout = CliOptions.WholeNumber("--rollout", "Percent of hosts admitted to this version (0-100); change it later with belay-release rollout.", 100, 0, 100);
        var expires = new Option<string>("--expires") { Description = "How long the new manifest is valid, like 30d; publish again before then.", DefaultValueFactory = _ => "30d" }.Duration();
        var allowOlder = new Option<bool>("--allow-older") { Description = "Publish a version lower than the channel's newest." };
        var command = new Command("publish", "Add a release to a channel: copy and sign its artifacts, then write the signed manifest (sequence + 1).")
        {
            feed, channel, version, artifacts, bootstrap, key, passwordFile, rollout, expires, allowOlder,
        };
        command.SetAction(result =>
        {
            var secret = KeyCommands.LoadSecretKey(result.GetRequiredValue(key), CliHost.ReadPassword(result.GetValue(passwordFile)));
            var request = new PublishRequest(
                result.GetRequiredValue(feed).FullName,
                result.GetRequiredValue(channel),
                result.GetRequiredValue(version),
                ParsePairs(result.GetRequiredValue(artifacts), "--artifact"),
                ParsePairs(result.GetValue(bootstrap) ?? [], "--bootstrap"),
                secret,
                result.GetValue(rollout),
                Durations.Parse(result.GetRequiredValue(expires)),
                result.GetValue(allowOlder));
            new FeedPublisher(Console.WriteLine).Publish(request);
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Refresh()
    {
        var feed = new Option<DirectoryInfo>("--feed") { Description = "The feed folder.", Required = true };
        var channel = new Option<string>("--channel") { Description = "The channel to re-sign.", DefaultValueFactory = _ => FeedLayout.DefaultChannel }.ChannelName();
        var key = new Option<FileInfo>("--key") { Description = "The release secret key (listed in root.json).", Required = true };
        var passwordFile = new Option<FileInfo?>("--password-file") { Description = "The key's password (or BELAY_KEY_PASSWORD)." };
        var expires = new Option<string>("--expires") { Description = "How long the re-signed manifest is valid, like 30d.", DefaultValueFactory = _ => "30d" }.Duration();
        var command = new Command("refresh", "Re-sign a channel with the same releases, sequence + 1 and a new expiry (run it before the manifest expires).")
        {
            feed, channel, key, passwordFile, expires,
        };
        command.SetAction(result =>
        {
            var secret = KeyCommands.LoadSecretKey(result.GetRequiredValue(key), CliHost.ReadPassword(result.GetValue(passwordFile)));
            new FeedPublisher(Console.WriteLine).Refresh(result.GetRequiredValue(feed).FullName, result.GetRequiredValue(channel), secret,
                Durations.Parse(result.GetRequiredValue(expires)));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command VerifyFeed()
    {
        var feed = new Option<string>("--feed") { Description = "The feed: a folder, file:// URL or http(s):// URL.", Required = true }.FeedAddress();
        var rootKeys = new Option<string[]>("--root-key")
        {
            Description = "A trusted root public key (base64 line or .pub file); repeat for more.",
            Required = true,
            Arity = ArgumentArity.OneOrMore,
        };
        var channels = new Option<string[]>("--channel") { Description = "Channels to check (default: all in a folder, else stable).", Arity = ArgumentArity.ZeroOrMore };
        var minSequence = CliOptions.LargeWholeNumber("--min-sequence", "Refuse manifests with a lower sequence (a watermark you have seen).", 0, 0, long.MaxValue);
        var groups = new Option<string[]>("--group") { Description = "Group documents to check (default: all in a folder, none over HTTP).", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("verify-feed", "Check a feed as a host would: root, manifests and group documents (signature, sequence, expiry) and every artifact and app archive (size, SHA-256, signature).")
        {
            feed, rootKeys, channels, minSequence, groups,
        };
        command.SetAction(async (result, cancel) =>
        {
            var keys = result.GetRequiredValue(rootKeys).Select(k => VerifyCommand.LoadPublicKey(k, "--root-key")).ToList();
            using var source = FeedSource.Open(result.GetRequiredValue(feed));
            var wanted = result.GetValue(channels) is { Length: > 0 } c ? c : null;
            var verifier = new FeedVerifier(source, keys, Console.WriteLine);
            var wantedGroups = result.GetValue(groups) is { Length: > 0 } g ? g : null;
            var outcome = await verifier.VerifyAsync(wanted, result.GetValue(minSequence), cancel, wantedGroups).ConfigureAwait(false);
            Console.WriteLine(outcome.Ok
                ? $"feed {source.Location}: all {outcome.Checked} checks passed"
                : $"feed {source.Location}: {outcome.Failures.Count} of {outcome.Checked} checks FAILED");
            return outcome.ExitCode;
        });
        return command;
    }

    internal static Dictionary<string, string> ParsePairs(IEnumerable<string> values, string option)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            var eq = value.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || eq == value.Length - 1)
            {
                throw new BelayException(ExitCodes.Usage, $"{option} '{value}' must be RID=PATH, like linux-x64=out/belay-agent-1.0.0-linux-x64.tar.gz");
            }
            var rid = value[..eq];
            if (!pairs.TryAdd(rid, Path.GetFullPath(value[(eq + 1)..])))
            {
                throw new BelayException(ExitCodes.Usage, $"{option} names {rid} twice");
            }
        }
        return pairs;
    }
}
