using System.Text.RegularExpressions;
using Belay.Core;
using Belay.Core.Feed;
using Belay.Hub.Api;
using Belay.Hub.Security;
using Belay.Hub.Storage;

namespace Belay.Hub.Admin;

/// <summary>
/// What an admin does, the same from the command line (<c>belay-hub token create</c>, <c>user add</c>, …)
/// and from the admin page: make enrollment tokens, operators and API tokens. A secret is returned
/// once, here, and only its hash is stored. Bad input is a <see cref="BelayException"/> that says
/// what was wrong.
/// </summary>
internal sealed partial class Administration(IHubStore store, TimeProvider clock)
{
    public const int MaxUses = 100_000;

    public async Task<NewEnrollToken> CreateEnrollTokenAsync(string group, int uses, string expires, string by, CancellationToken cancellationToken)
    {
        if (!IsValidGroup(group))
        {
            throw new BelayException(ExitCodes.Usage, $"group '{group}': use lower-case letters, digits, '.', '-' and '_' (at most 64)");
        }
        if (uses is < 1 or > MaxUses)
        {
            throw new BelayException(ExitCodes.Usage, $"--uses {uses}: give 1 to {MaxUses}");
        }
        var lifetime = Durations.Parse(expires);
        var token = HubSecrets.New(HubSecrets.EnrollPrefix);
        var now = clock.GetUtcNow();
        var record = new EnrollTokenRecord("t" + HubSecrets.NewId(4), HubSecrets.Hash(token), group, uses, uses, now + lifetime, now, by, null);
        await store.CreateEnrollTokenAsync(record, cancellationToken).ConfigureAwait(false);
        await Audit(by, "token.create", null, record.Id, $"group {group}, {uses} use(s), expires {record.ExpiresAt:u}", cancellationToken).ConfigureAwait(false);
        return new NewEnrollToken { Id = record.Id, Token = token, Group = group, Uses = uses, ExpiresAt = record.ExpiresAt };
    }

    public async Task<List<EnrollTokenView>> ListEnrollTokensAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        return [.. (await store.ListEnrollTokensAsync(cancellationToken).ConfigureAwait(false)).Select(t => new EnrollTokenView
        {
            Id = t.Id, Group = t.Group, UsesLeft = t.UsesLeft, Uses = t.UsesTotal, ExpiresAt = t.ExpiresAt, CreatedAt = t.CreatedAt, CreatedBy = t.CreatedBy,
            State = t.RevokedAt is not null ? "revoked" : t.ExpiresAt <= now ? "expired" : t.UsesLeft <= 0 ? "used-up" : "usable",
        })];
    }

    public async Task<bool> RevokeEnrollTokenAsync(string id, string by, CancellationToken cancellationToken)
    {
        var revoked = await store.RevokeEnrollTokenAsync(id, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        if (revoked)
        {
            await Audit(by, "token.revoke", null, id, null, cancellationToken).ConfigureAwait(false);
        }
        return revoked;
    }

    public async Task<bool> RevokeHostAsync(string id, string by, CancellationToken cancellationToken)
    {
        var revoked = await store.RevokeHostAsync(id, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        if (revoked)
        {
            await Audit(by, "host.revoke", id, null, null, cancellationToken).ConfigureAwait(false);
        }
        return revoked;
    }

    /// <summary>Adds an operator; with no password given, one is generated and returned (once).</summary>
    public async Task<NewUser> AddUserAsync(string name, string role, string? password, string by, CancellationToken cancellationToken)
    {
        if (!IsValidUserName(name))
        {
            throw new BelayException(ExitCodes.Usage, $"user name '{name}': use letters, digits, '.', '-', '_' and '@' (1 to 64)");
        }
        if (!Roles.IsValid(role))
        {
            throw new BelayException(ExitCodes.Usage, $"--role {role}: viewer or admin");
        }
        var generated = password is null ? HubSecrets.NewPassword() : null;
        CheckPassword(password ?? generated!);
        var user = new UserRecord(0, name, role, Passwords.Hash(name, password ?? generated!), clock.GetUtcNow());
        if (!await store.AddUserAsync(user, cancellationToken).ConfigureAwait(false))
        {
            throw new BelayException($"there is already an operator named '{name}' (belay-hub user passwd {name} sets a new password)");
        }
        await Audit(by, "user.add", null, name, $"role {role}", cancellationToken).ConfigureAwait(false);
        return new NewUser { Name = name, Role = role, Password = generated };
    }

    public async Task<string?> SetPasswordAsync(string name, string? password, string by, CancellationToken cancellationToken)
    {
        var generated = password is null ? HubSecrets.NewPassword() : null;
        CheckPassword(password ?? generated!);
        if (!await store.SetPasswordAsync(name, Passwords.Hash(name, password ?? generated!), cancellationToken).ConfigureAwait(false))
        {
            throw new BelayException($"no operator named '{name}'");
        }
        await Audit(by, "user.passwd", null, name, null, cancellationToken).ConfigureAwait(false);
        return generated;
    }

    public async Task<bool> RemoveUserAsync(string name, string by, CancellationToken cancellationToken)
    {
        var removed = await store.RemoveUserAsync(name, cancellationToken).ConfigureAwait(false);
        if (removed)
        {
            await Audit(by, "user.remove", null, name, null, cancellationToken).ConfigureAwait(false);
        }
        return removed;
    }

    public async Task<NewApiToken> CreateApiTokenAsync(string userName, string name, string? expires, string by, CancellationToken cancellationToken)
    {
        var user = await store.FindUserAsync(userName, cancellationToken).ConfigureAwait(false)
            ?? throw new BelayException($"no operator named '{userName}' (belay-hub user add {userName} --role viewer)");
        if (name.Length is 0 or > 64)
        {
            throw new BelayException(ExitCodes.Usage, "give the token a name of 1 to 64 characters (--name), to tell it apart later");
        }
        var now = clock.GetUtcNow();
        DateTimeOffset? expiresAt = string.IsNullOrEmpty(expires) || expires == "never" ? null : now + Durations.Parse(expires);
        var token = HubSecrets.New(HubSecrets.ApiTokenPrefix);
        var record = new ApiTokenRecord("k" + HubSecrets.NewId(4), HubSecrets.Hash(token), user.Id, user.Name, name, now, expiresAt, null, null);
        await store.CreateApiTokenAsync(record, cancellationToken).ConfigureAwait(false);
        await Audit(by, "apitoken.create", null, record.Id, $"for {user.Name}: {name}", cancellationToken).ConfigureAwait(false);
        return new NewApiToken { Id = record.Id, Token = token, User = user.Name, Name = name, ExpiresAt = expiresAt };
    }

    public async Task<bool> RevokeApiTokenAsync(string id, string by, CancellationToken cancellationToken)
    {
        var revoked = await store.RevokeApiTokenAsync(id, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        if (revoked)
        {
            await Audit(by, "apitoken.revoke", null, id, null, cancellationToken).ConfigureAwait(false);
        }
        return revoked;
    }

    public Task Audit(string actor, string action, string? hostId, string? target, string? detail, CancellationToken cancellationToken, string? remote = null) =>
        store.AddAuditAsync(new AuditRecord(0, clock.GetUtcNow(), actor, action, hostId, target, remote, detail), cancellationToken);

    public static bool IsValidGroup(string group) => GroupName().IsMatch(group);

    public static bool IsValidUserName(string name) => UserName().IsMatch(name);

    private static void CheckPassword(string password)
    {
        if (password.Length < Passwords.MinimumLength)
        {
            throw new BelayException(ExitCodes.Usage, $"the password must have at least {Passwords.MinimumLength} characters");
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$")]
    private static partial Regex GroupName();

    [GeneratedRegex("^[A-Za-z0-9._@-]{1,64}$")]
    private static partial Regex UserName();
}
