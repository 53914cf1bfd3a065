using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Feed;
using Belay.Core.Publishing;

namespace Belay.Release.Commands;

/// <summary>
/// yank, rollout and list: change or show the releases already on a channel. yank and rollout
/// rewrite the signed manifest (sequence + 1, re-signed with a release key, nothing else
/// changed), so that verify-feed and the stock `minisign -V` accept it as before.
/// </summary>
internal static class ReleaseCommands
{
    public static Command Yank()
    {
        var version = new Argument<string>("VERSION") { Description = "The release to withdraw, like 1.4.2." }.SemanticVersion();
        var (feed, channel, key, passwordFile, expires) = ChangeOptions();
        var undo = new Option<bool>("--undo") { Description = "Put a yanked release back (its rollout stays at 0% until belay-release rollout)." };
        var command = new Command("yank", "Withdraw a release: hosts that have not taken it never will; hosts on it keep it until a newer release.")
        {
            version, feed, channel, key, passwordFile, expires, undo,
        };
        command.SetAction(result =>
        {
            var secret = KeyCommands.LoadSecretKey(result.GetRequiredValue(key), CliHost.ReadPassword(result.GetValue(passwordFile)));
            new FeedPublisher(Console.WriteLine).Yank(result.GetRequiredValue(feed).FullName, result.GetRequiredValue(channel), result.GetRequiredValue(version),
                secret, result.GetValue(undo), Durations.Parse(result.GetRequiredValue(expires)));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Rollout()
    {
        var version = new Argument<string>("VERSION") { Description = "The release to change, like 1.4.2." }.SemanticVersion();
        var percent = CliOptions.WholeNumber("--percent", "Percent of hosts admitted to it, 0 to 100 (raising it keeps the hosts already admitted).", null, 0, 100);
        var (feed, channel, key, passwordFile, expires) = ChangeOptions();
        var command = new Command("rollout", "Change how many hosts a published release is rolled out to.")
        {
            version, percent, feed, channel, key, passwordFile, expires,
        };
        command.SetAction(result =>
        {
            var secret = KeyCommands.LoadSecretKey(result.GetRequiredValue(key), CliHost.ReadPassword(result.GetValue(passwordFile)));
            new FeedPublisher(Console.WriteLine).SetRollout(result.GetRequiredValue(feed).FullName, result.GetRequiredValue(channel), result.GetRequiredValue(version),
                result.GetValue(percent), secret, Durations.Parse(result.GetRequiredValue(expires)));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command List()
    {
        var feed = new Option<DirectoryInfo>("--feed") { Description = "The feed folder.", Required = true }.NotAFile();
        var channels = new Option<string[]>("--channel") { Description = "Channels to list (default: every channel of the feed).", Arity = ArgumentArity.ZeroOrMore };
        var json = new Option<bool>("--json") { Description = "Print JSON: [{channel, sequence, expires, releases: [{version, published, rollout, yanked, rids}]}]." };
        var command = new Command("list", "Show what each channel holds: versions, publish dates, rollout, yanked, RIDs.") { feed, channels, json };
        command.SetAction(result =>
        {
            var listed = new FeedPublisher(_ => { }).List(result.GetRequiredValue(feed).FullName, result.GetValue(channels));
            if (result.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize([.. listed.Select(ListJson.From)], ListJsonContext.Default.ListListJson));
                return ExitCodes.Ok;
            }
            foreach (var channel in listed)
            {
                Console.WriteLine($"channel {channel.Channel}: sequence {channel.Sequence}, expires {channel.Expires:u}");
                var rows = channel.Releases.Select(r => new[]
                {
                    r.Version, r.Published.ToString("u", CultureInfo.InvariantCulture), $"{r.RolloutPercent}%",
                    r.Yanked is { } y ? y.ToString("u", CultureInfo.InvariantCulture) : "-", string.Join(",", r.Rids),
                }).Prepend(["VERSION", "PUBLISHED", "ROLLOUT", "YANKED", "RIDS"]).ToList();
                var widths = Enumerable.Range(0, 5).Select(i => rows.Max(r => r[i].Length)).ToArray();
                foreach (var row in rows)
                {
                    Console.WriteLine("  " + string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))));
                }
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static (Option<DirectoryInfo> Feed, Option<string> Channel, Option<FileInfo> Key, Option<FileInfo?> PasswordFile, Option<string> Expires) ChangeOptions() =>
    (
        new Option<DirectoryInfo>("--feed") { Description = "The feed folder.", Required = true }.NotAFile(),
        new Option<string>("--channel") { Description = "The channel that holds the release.", DefaultValueFactory = _ => FeedLayout.DefaultChannel }.ChannelName(),
        new Option<FileInfo>("--key") { Description = "The release secret key (listed in root.json) that re-signs the manifest.", Required = true },
        new Option<FileInfo?>("--password-file") { Description = "The key's password (or BELAY_KEY_PASSWORD)." },
        new Option<string>("--expires") { Description = "How long the rewritten manifest is valid, like 30d.", DefaultValueFactory = _ => "30d" }.Duration()
    );
}

/// <summary>One channel in `belay-release list --json`.</summary>
internal sealed class ListJson
{
    public string Channel { get; set; } = "";
    public long Sequence { get; set; }
    public DateTimeOffset Expires { get; set; }
    public List<ListReleaseJson> Releases { get; set; } = [];

    public static ListJson From(ListedChannel c) => new()
    {
        Channel = c.Channel,
        Sequence = c.Sequence,
        Expires = c.Expires,
        Releases = [.. c.Releases.Select(r => new ListReleaseJson { Version = r.Version, Published = r.Published, Rollout = r.RolloutPercent, Yanked = r.Yanked, Rids = [.. r.Rids] })],
    };
}

internal sealed class ListReleaseJson
{
    public string Version { get; set; } = "";
    public DateTimeOffset Published { get; set; }

    /// <summary>The rollout percent.</summary>
    public int Rollout { get; set; }
    public DateTimeOffset? Yanked { get; set; }
    public List<string> Rids { get; set; } = [];
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(List<ListJson>))]
internal sealed partial class ListJsonContext : JsonSerializerContext;
