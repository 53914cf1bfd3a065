using System.CommandLine;
using System.Text;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Encryption;
using Belay.Core.Feed;
using Belay.Core.Publishing;

namespace Belay.Release.Commands;

/// <summary>`belay-release deploy`: set one app of a group's desired state and sign groups/&lt;group&gt;.json with a deploy key.</summary>
internal static class DeployCommand
{
    public static Command Create()
    {
        var feed = new Option<DirectoryInfo>("--feed") { Description = "The feed folder.", Required = true };
        var group = new Option<string>("--group") { Description = "The group of hosts (belay install --group).", Required = true };
        var app = new Option<string?>("--app") { Description = "The app to set. Without it, the group document is only re-signed (sequence + 1, new expiry)." };
        var version = new Option<string?>("--version") { Description = "The release to run, like 2.7.1." };
        var artifacts = new Option<string[]>("--artifact")
        {
            Description = "The app's archive for a RID: RID=FILE (RID any for a platform-independent app); repeat per RID. Without it, a version already published to this feed is reused.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var env = new Option<string[]>("--env") { Description = "A plain variable, K=V (public: the feed is static files); repeat.", Arity = ArgumentArity.ZeroOrMore };
        var secrets = new Option<string[]>("--secret")
        {
            Description = "A secret variable, K=@FILE (K=@- reads standard input; one trailing newline is dropped), encrypted with age to every --recipient; repeat.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var recipients = new Option<string[]>("--recipient")
        {
            Description = "The group's age recipient (age1…, what age-keygen -y prints), or a file of them, one a line; repeat.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var unset = new Option<string[]>("--unset") { Description = "Remove a variable; repeat.", Arity = ArgumentArity.ZeroOrMore };
        var state = new Option<string?>("--state") { Description = "running (default for a new app), stopped or absent." };
        var rollout = new Option<int?>("--rollout") { Description = "Percent of the group's hosts that take this version (0-100; default 100 for a new version)." };
        var user = new Option<string?>("--user") { Description = "The user the app and its hooks run as (\"\" for the agent's own)." };
        var key = new Option<FileInfo>("--key") { Description = "The deploy secret key (listed in root.json's deploy role).", Required = true };
        var passwordFile = new Option<FileInfo?>("--password-file") { Description = "The key's password (or BELAY_KEY_PASSWORD)." };
        var expires = new Option<string>("--expires") { Description = "How long the document is valid, like 30d; deploy or re-sign before then.", DefaultValueFactory = _ => "30d" };
        var command = new Command("deploy", "Set an app of a group (version, archives, env, secrets, state, rollout) and sign groups/GROUP.json (sequence + 1).")
        {
            feed, group, app, version, artifacts, env, secrets, recipients, unset, state, rollout, user, key, passwordFile, expires,
        };
        command.SetAction(result =>
        {
            var secret = KeyCommands.LoadSecretKey(result.GetRequiredValue(key), CliHost.ReadPassword(result.GetValue(passwordFile)));
            var request = new DeployRequest(
                result.GetRequiredValue(feed).FullName,
                result.GetRequiredValue(group),
                secret,
                result.GetValue(app),
                result.GetValue(version),
                FeedCommands.ParsePairs(result.GetValue(artifacts) ?? [], "--artifact"),
                ParseEnv(result.GetValue(env) ?? []),
                ParseSecrets(result.GetValue(secrets) ?? []),
                ParseRecipients(result.GetValue(recipients) ?? []),
                result.GetValue(unset) ?? [],
                result.GetValue(state),
                result.GetValue(rollout),
                result.GetValue(user),
                Durations.Parse(result.GetRequiredValue(expires)));
            new FeedPublisher(Console.WriteLine).Deploy(request);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Dictionary<string, string> ParseEnv(IEnumerable<string> values)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            var eq = value.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new BelayException(ExitCodes.Usage, $"--env '{value}' must be K=V, like PORT=8080");
            }
            if (!pairs.TryAdd(value[..eq], value[(eq + 1)..]))
            {
                throw new BelayException(ExitCodes.Usage, $"--env names {value[..eq]} twice");
            }
        }
        return pairs;
    }

    /// <summary>K=@FILE or K=@-; never K=VALUE, which would leave the secret in shell history and in ps.</summary>
    private static Dictionary<string, byte[]> ParseSecrets(IEnumerable<string> values)
    {
        var secrets = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            var eq = value.IndexOf('=', StringComparison.Ordinal);
            var name = eq > 0 ? value[..eq] : value;
            if (eq <= 0 || eq + 1 >= value.Length || value[eq + 1] != '@')
            {
                throw new BelayException(ExitCodes.Usage, $"--secret {name}: give the value as {name}=@FILE (or {name}=@- for standard input); a secret on the command line would be left in shell history and ps");
            }
            var source = value[(eq + 2)..];
            byte[] bytes;
            try
            {
                if (source == "-")
                {
                    using var stdin = Console.OpenStandardInput();
                    using var buffer = new MemoryStream();
                    stdin.CopyTo(buffer);
                    bytes = buffer.ToArray();
                }
                else
                {
                    bytes = File.ReadAllBytes(source);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new BelayException(ExitCodes.Usage, $"--secret {name}: cannot read {source}: {e.Message}", e);
            }
            if (bytes.AsSpan().EndsWith("\r\n"u8))
            {
                bytes = bytes[..^2];
            }
            else if (bytes.AsSpan().EndsWith("\n"u8))
            {
                bytes = bytes[..^1];
            }
            if (!secrets.TryAdd(name, bytes))
            {
                throw new BelayException(ExitCodes.Usage, $"--secret names {name} twice");
            }
        }
        return secrets;
    }

    /// <summary>age1… strings, or files of them (one a line, '#' comments), as age -R reads.</summary>
    private static List<AgeRecipient> ParseRecipients(IEnumerable<string> values)
    {
        var recipients = new List<AgeRecipient>();
        foreach (var value in values)
        {
            if (!value.StartsWith("age1", StringComparison.Ordinal) && File.Exists(value))
            {
                var number = 0;
                foreach (var line in File.ReadAllLines(value, Encoding.UTF8))
                {
                    number++;
                    var text = line.Trim();
                    if (text.Length == 0 || text.StartsWith('#'))
                    {
                        continue;
                    }
                    recipients.Add(AgeRecipient.TryParse(text, out var r, out var error)
                        ? r
                        : throw new BelayException(ExitCodes.Usage, $"--recipient {value}, line {number}: {error}"));
                }
                continue;
            }
            recipients.Add(AgeRecipient.TryParse(value, out var recipient, out var why)
                ? recipient
                : throw new BelayException(ExitCodes.Usage, $"--recipient: {why}"));
        }
        return [.. recipients.Distinct()];
    }
}
