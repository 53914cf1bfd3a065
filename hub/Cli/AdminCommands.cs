using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Belay.Core;
using Belay.Hub.Admin;
using Belay.Hub.Api;
using Belay.Hub.Storage;

namespace Belay.Hub.Cli;

/// <summary>
/// The admin commands, on the data folder directly (the serving hub picks the changes up; a
/// revocation cuts the host's open connection within half a second). A secret they make goes to
/// stdout alone, so that a script can take it (<c>T=$(belay-hub token create --group web)</c>);
/// what it is goes to stderr. Every change is in the audit table, by <c>cli:USER</c>.
/// </summary>
internal static class AdminCommands
{
    private static string Actor => "cli:" + Environment.UserName;

    public static Command Token()
    {
        var command = new Command("token", "Enrollment tokens: what `belay install --hub URL --enroll-token T` exchanges for a host credential.");

        var data = DataOption.Create();
        var group = new Option<string>("--group") { Description = "The group the enrolled hosts join.", DefaultValueFactory = _ => "default" };
        var uses = new Option<int>("--uses") { Description = "How many hosts may enroll with it.", DefaultValueFactory = _ => 1 };
        var expires = new Option<string>("--expires") { Description = "How long it is valid (90s, 45m, 12h, 30d, 2w).", DefaultValueFactory = _ => "24h" };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var create = new Command("create", "Make an enrollment token; prints it (once: only its hash is kept).") { data, group, uses, expires, json };
        create.SetAction(async (result, cancel) =>
        {
            var store = await DataOption.OpenAsync(result, data, create: true, cancel).ConfigureAwait(false);
            var token = await new Administration(store, TimeProvider.System).CreateEnrollTokenAsync(result.GetRequiredValue(group), result.GetValue(uses),
                result.GetRequiredValue(expires), Actor, cancel).ConfigureAwait(false);
            if (result.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(token, HubApiJsonContext.Default.NewEnrollToken));
                return ExitCodes.Ok;
            }
            Console.WriteLine(token.Token);
            Console.Error.WriteLine($"enrollment token {token.Id}: group {token.Group}, {token.Uses} use(s), expires {token.ExpiresAt:u}. On a host:");
            Console.Error.WriteLine($"  belay install --feed FEED --hub HUB_URL --enroll-token {token.Token}");
            return ExitCodes.Ok;
        });

        var listData = DataOption.Create();
        var listJson = new Option<bool>("--json") { Description = "Print JSON." };
        var list = new Command("list", "List enrollment tokens (never the tokens themselves).") { listData, listJson };
        list.SetAction(async (result, cancel) =>
        {
            var store = await DataOption.OpenAsync(result, listData, create: false, cancel).ConfigureAwait(false);
            var tokens = await new Administration(store, TimeProvider.System).ListEnrollTokensAsync(cancel).ConfigureAwait(false);
            if (result.GetValue(listJson))
            {
                Console.WriteLine(JsonSerializer.Serialize(tokens, HubApiJsonContext.Default.ListEnrollTokenView));
                return ExitCodes.Ok;
            }
            Table(["ID", "GROUP", "USES LEFT", "EXPIRES", "STATE", "CREATED BY"],
                tokens.Select(t => new[] { t.Id, t.Group, $"{t.UsesLeft}/{t.Uses}", Time(t.ExpiresAt), t.State, t.CreatedBy }));
            return ExitCodes.Ok;
        });

        var revokeData = DataOption.Create();
        var id = new Argument<string>("ID") { Description = "The token's id (belay-hub token list)." };
        var revoke = new Command("revoke", "Revoke an enrollment token: no more hosts enroll with it (enrolled ones stay).") { id, revokeData };
        revoke.SetAction(async (result, cancel) =>
        {
            var store = await DataOption.OpenAsync(result, revokeData, create: false, cancel).ConfigureAwait(false);
            if (!await new Administration(store, TimeProvider.System).RevokeEnrollTokenAsync(result.GetRequiredValue(id), Actor, cancel).ConfigureAwait(false))
            {
                throw new BelayException($"no usable enrollment token {result.GetRequiredValue(id)} (belay-hub token list)");
            }
            Console.WriteLine($"revoked enrollment token {result.GetRequiredValue(id)}");
            return ExitCodes.Ok;
        });
        command.Add(create);
        command.Add(list);
        command.Add(revoke);
        return command;
    }

    public static Command Hosts()
    {
        var command = new Command("hosts", "Enrolled hosts.");
        var data = DataOption.Create();
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var list = new Command("list", "List enrolled hosts with their last state as stored.") { data, json };
        list.SetAction(async (result, cancel) =>
        {
            var store = await DataOption.OpenAsync(result, data, create: false, cancel).ConfigureAwait(false);
            var hosts = (await store.ListHostsAsync(cancel).ConfigureAwait(false)).Select(h => HostViews.Summarize(h, h.StateJson, null)).ToList();
            if (result.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(hosts, HubApiJsonContext.Default.ListHostSummary));
                return ExitCodes.Ok;
            }
            Table(["ID", "HOSTNAME", "GROUP", "VERSION", "LAST SEEN", "STATE"],
                hosts.Select(h => new[] { h.Id, h.Hostname, h.Group, h.Version, h.LastSeen is { } s ? Time(s) : "never", h.Revoked ? "revoked" : h.Health }));
            return ExitCodes.Ok;
        });
        var revokeData = DataOption.Create();
        var id = new Argument<string>("ID") { Description = "The host's id (belay-hub hosts list)." };
        var revoke = new Command("revoke", "Revoke a host: its credential is refused from now on and its open connection is closed.") { id, revokeData };
        revoke.SetAction(async (result, cancel) =>
        {
            var store = await DataOption.OpenAsync(result, revokeData, create: false, cancel).ConfigureAwait(false);
            var hostId = result.GetRequiredValue(id);
            if (await store.GetHostAsync(hostId, cancel).ConfigureAwait(false) is null)
            {
                throw new BelayException($"no host {hostId} (belay-hub hosts list)");
            }
            var revoked = await new Administration(store, TimeProvider.System).RevokeHostAsync(hostId, Actor, cancel).ConfigureAwait(false);
            Console.WriteLine(revoked ? $"revoked host {hostId}: a serving hub closes its connection within a second" : $"host {hostId} was already revoked");
            return ExitCodes.Ok;
        });
        command.Add(list);
        command.Add(revoke);
        return command;
    }

    public static Command User()
    {
        var command = new Command("user", "Operators of the page and the API (roles: viewer, admin) and their API tokens.");

        var data = DataOption.Create();
        var name = new Argument<string>("NAME");
        var role = new Option<string>("--role") { Description = "viewer (see the fleet, read logs) or admin (also enroll, revoke, manage operators).", Required = true };
        var stdin = new Option<bool>("--password-stdin") { Description = "Read the password from stdin (else one is generated and printed)." };
        var add = new Command("add", "Add an operator.") { name, role, stdin, data };
        add.SetAction(async (result, cancel) =>
        {
            var store = await DataOption.OpenAsync(result, data, create: true, cancel).ConfigureAwait(false);
            var password = result.GetValue(stdin) ? ReadPassword() : null;
            var user = await new Administration(store, TimeProvider.System).AddUserAsync(result.GetRequiredValue(name), result.GetRequiredValue(role), password, Actor, cancel)
                .ConfigureAwait(false);
            if (user.Password is { } generated)
            {
                Console.WriteLine(generated);
                Console.Error.WriteLine($"added {user.Role} {user.Name}; the password above is shown once");
            }
            else
            {
                Console.WriteLine($"added {user.Role} {user.Name}");
            }
            return ExitCodes.Ok;
        });

        var passwdData = DataOption.Create();
        var passwdName = new Argument<string>("NAME");
        var passwdStdin = new Option<bool>("--password-stdin") { Description = "Read the password from stdin (else one is generated and printed)." };
        var passwd = new Command("passwd", "Set an operator's password (ends their sessions).") { passwdName, passwdStdin, passwdData };
        passwd.SetAction(async (result, cancel) =>
        {
            var store = await DataOption.OpenAsync(result, passwdData, create: false, cancel).ConfigureAwait(false);
            var generated = await new Administration(store, TimeProvider.System).SetPasswordAsync(result.GetRequiredValue(passwdName),
                result.GetValue(passwdStdin) ? ReadPassword() : null, Actor, cancel).ConfigureAwait(false);
            Console.WriteLine(generated ?? $"password of {result.GetRequiredValue(passwdName)} set");
            return ExitCodes.Ok;
        });

        var listData = DataOption.Create();
        var list = new Command("list", "List operators.") { listData };
        list.SetAction(async (result, cancel) =>
        {
            var store = await DataOption.OpenAsync(result, listData, create: false, cancel).ConfigureAwait(false);
            Table(["NAME", "ROLE", "CREATED"], (await store.ListUsersAsync(cancel).ConfigureAwait(false)).Select(u => new[] { u.Name, u.Role, Time(u.CreatedAt) }));
            return ExitCodes.Ok;
        });

        var removeData = DataOption.Create();
        var removeName = new Argument<string>("NAME");
        var remove = new Command("remove", "Remove an operator (their sessions and API tokens go too).") { removeName, removeData };
        remove.SetAction(async (result, cancel) =>
        {
            var store = await DataOption.OpenAsync(result, removeData, create: false, cancel).ConfigureAwait(false);
            if (!await new Administration(store, TimeProvider.System).RemoveUserAsync(result.GetRequiredValue(removeName), Actor, cancel).ConfigureAwait(false))
            {
                throw new BelayException($"no operator named '{result.GetRequiredValue(removeName)}'");
            }
            Console.WriteLine($"removed {result.GetRequiredValue(removeName)}");
            return ExitCodes.Ok;
        });

        var tokenData = DataOption.Create();
        var tokenUser = new Argument<string>("NAME") { Description = "The operator the token acts as (with their role)." };
        var tokenName = new Option<string>("--name") { Description = "What the token is for (shown in lists).", Required = true };
        var tokenExpires = new Option<string>("--expires") { Description = "How long it is valid (30d, 2w, ... or never).", DefaultValueFactory = _ => "90d" };
        var token = new Command("token", "Make an API token for an operator (Authorization: Bearer …); prints it once.") { tokenUser, tokenName, tokenExpires, tokenData };
        token.SetAction(async (result, cancel) =>
        {
            var store = await DataOption.OpenAsync(result, tokenData, create: false, cancel).ConfigureAwait(false);
            var made = await new Administration(store, TimeProvider.System).CreateApiTokenAsync(result.GetRequiredValue(tokenUser), result.GetRequiredValue(tokenName),
                result.GetValue(tokenExpires), Actor, cancel).ConfigureAwait(false);
            Console.WriteLine(made.Token);
            Console.Error.WriteLine($"API token {made.Id} for {made.User} ({made.Name}), expires {(made.ExpiresAt is { } e ? Time(e) : "never")}");
            return ExitCodes.Ok;
        });

        var revokeData = DataOption.Create();
        var revokeId = new Argument<string>("ID");
        var revokeToken = new Command("revoke-token", "Revoke an API token by its id (belay-hub user tokens).") { revokeId, revokeData };
        revokeToken.SetAction(async (result, cancel) =>
        {
            var store = await DataOption.OpenAsync(result, revokeData, create: false, cancel).ConfigureAwait(false);
            if (!await new Administration(store, TimeProvider.System).RevokeApiTokenAsync(result.GetRequiredValue(revokeId), Actor, cancel).ConfigureAwait(false))
            {
                throw new BelayException($"no live API token {result.GetRequiredValue(revokeId)}");
            }
            Console.WriteLine($"revoked API token {result.GetRequiredValue(revokeId)}");
            return ExitCodes.Ok;
        });

        var tokensData = DataOption.Create();
        var tokens = new Command("tokens", "List API tokens (never the tokens themselves).") { tokensData };
        tokens.SetAction(async (result, cancel) =>
        {
            var store = await DataOption.OpenAsync(result, tokensData, create: false, cancel).ConfigureAwait(false);
            Table(["ID", "USER", "NAME", "EXPIRES", "LAST USED", "STATE"], (await store.ListApiTokensAsync(cancel).ConfigureAwait(false)).Select(t => new[]
            {
                t.Id, t.UserName, t.Name, t.ExpiresAt is { } e ? Time(e) : "never", t.LastUsed is { } u ? Time(u) : "never", t.RevokedAt is null ? "live" : "revoked",
            }));
            return ExitCodes.Ok;
        });

        command.Add(add);
        command.Add(passwd);
        command.Add(list);
        command.Add(remove);
        command.Add(token);
        command.Add(tokens);
        command.Add(revokeToken);
        return command;
    }

    public static Command Audit()
    {
        var data = DataOption.Create();
        var limit = new Option<int>("--limit", "-n") { Description = "How many entries, newest first.", DefaultValueFactory = _ => 50 };
        var action = new Option<string?>("--action") { Description = "Only this action (log.view, login, login.failed, host.enroll, host.revoke, …)." };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var command = new Command("audit", "Print the audit table: every log view, login, enrollment and admin change.") { data, limit, action, json };
        command.SetAction(async (result, cancel) =>
        {
            var store = await DataOption.OpenAsync(result, data, create: false, cancel).ConfigureAwait(false);
            var entries = (await store.ListAuditAsync(result.GetValue(limit), result.GetValue(action), cancel).ConfigureAwait(false)).Select(AuditApi.View).ToList();
            if (result.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(entries, HubApiJsonContext.Default.ListAuditView));
                return ExitCodes.Ok;
            }
            Table(["AT", "WHO", "ACTION", "HOST", "WHAT", "FROM"],
                entries.Select(e => new[] { Time(e.At), e.Actor, e.Action, e.HostId ?? "", string.Join(" ", new[] { e.Target, e.Detail }.OfType<string>()), e.Remote ?? "" }));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string ReadPassword()
    {
        var line = Console.In.ReadLine();
        if (string.IsNullOrEmpty(line))
        {
            throw new BelayException(ExitCodes.Usage, "--password-stdin: no password on stdin");
        }
        return line.TrimEnd('\r');
    }

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static void Table(string[] header, IEnumerable<string[]> rows)
    {
        var all = rows.ToList();
        var widths = header.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        Console.WriteLine(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        foreach (var row in all)
        {
            Console.WriteLine(string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        }
        if (all.Count == 0)
        {
            Console.WriteLine("(none)");
        }
    }
}
