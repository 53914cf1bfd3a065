namespace Belay.Hub.Storage;

/// <summary>
/// Everything the hub keeps, behind one small interface so that a second backend (PostgreSQL,
/// for several hub nodes sharing one fleet) is one more file. Secrets are never stored: tokens,
/// credentials and sessions are kept as SHA-256 hashes, passwords as PBKDF2 hashes. Times are UTC.
/// Revocations bump <see cref="RevisionAsync"/>, which every hub node watches to cut what was
/// revoked at once (its open connections too).
/// </summary>
internal interface IHubStore
{
    /// <summary>Brings the schema to this build's version; refuses a database written by a newer hub.</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>Grows with every revocation (host, user, token, session): a cheap thing to poll.</summary>
    Task<long> RevisionAsync(CancellationToken cancellationToken);

    // Enrollment tokens
    Task CreateEnrollTokenAsync(EnrollTokenRecord token, CancellationToken cancellationToken);
    Task<IReadOnlyList<EnrollTokenRecord>> ListEnrollTokensAsync(CancellationToken cancellationToken);
    Task<bool> RevokeEnrollTokenAsync(string id, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>
    /// Uses one use of the token with <paramref name="tokenHash"/> and creates <paramref name="host"/> in
    /// its group, atomically; or says why not (and changes nothing).
    /// </summary>
    Task<EnrollOutcome> EnrollAsync(string tokenHash, HostRecord host, DateTimeOffset now, CancellationToken cancellationToken);

    // Hosts
    Task<HostRecord?> FindHostByCredentialAsync(string credentialHash, CancellationToken cancellationToken);
    Task<HostRecord?> GetHostAsync(string id, CancellationToken cancellationToken);
    Task<IReadOnlyList<HostRecord>> ListHostsAsync(CancellationToken cancellationToken);
    Task RecordHelloAsync(string hostId, HelloRecord hello, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Saves the latest state of several hosts in one transaction (the hub batches them).</summary>
    Task SaveStatesAsync(IReadOnlyList<StateRecord> states, CancellationToken cancellationToken);
    Task RecordSeenAsync(string hostId, DateTimeOffset at, CancellationToken cancellationToken);
    Task<bool> RevokeHostAsync(string id, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Of <paramref name="hostIds"/>, those revoked (or deleted).</summary>
    Task<IReadOnlyList<string>> RevokedAmongAsync(IReadOnlyCollection<string> hostIds, CancellationToken cancellationToken);

    // Deploy history (from the apps' lastDeploy in the hosts' states)
    Task<IReadOnlyList<DeployRecord>> ListDeploysAsync(string? hostId, int limit, CancellationToken cancellationToken);

    // Operators
    Task<bool> AddUserAsync(UserRecord user, CancellationToken cancellationToken);
    Task<UserRecord?> FindUserAsync(string name, CancellationToken cancellationToken);
    Task<IReadOnlyList<UserRecord>> ListUsersAsync(CancellationToken cancellationToken);
    Task<bool> RemoveUserAsync(string name, CancellationToken cancellationToken);
    Task<bool> SetPasswordAsync(string name, string passwordHash, CancellationToken cancellationToken);

    Task CreateSessionAsync(SessionRecord session, CancellationToken cancellationToken);
    Task<(SessionRecord Session, UserRecord User)?> FindSessionAsync(string hash, DateTimeOffset now, CancellationToken cancellationToken);
    Task DeleteSessionAsync(string hash, CancellationToken cancellationToken);

    Task CreateApiTokenAsync(ApiTokenRecord token, CancellationToken cancellationToken);
    Task<(ApiTokenRecord Token, UserRecord User)?> FindApiTokenAsync(string hash, DateTimeOffset now, CancellationToken cancellationToken);
    Task<IReadOnlyList<ApiTokenRecord>> ListApiTokensAsync(CancellationToken cancellationToken);
    Task<bool> RevokeApiTokenAsync(string id, DateTimeOffset at, CancellationToken cancellationToken);

    // Audit
    Task AddAuditAsync(AuditRecord entry, CancellationToken cancellationToken);
    Task<IReadOnlyList<AuditRecord>> ListAuditAsync(int limit, string? action, CancellationToken cancellationToken);
}

internal sealed record EnrollTokenRecord(
    string Id, string Hash, string Group, int UsesLeft, int UsesTotal, DateTimeOffset ExpiresAt, DateTimeOffset CreatedAt, string CreatedBy,
    DateTimeOffset? RevokedAt);

internal enum EnrollFailure
{
    None,
    Unknown,
    Expired,
    UsedUp,
    Revoked,
}

internal sealed record EnrollOutcome(EnrollFailure Failure, string Group);

internal sealed record HostRecord
{
    public required string Id { get; init; }
    public required string CredentialHash { get; init; }
    public required string Group { get; init; }
    public required DateTimeOffset EnrolledAt { get; init; }
    public string? TokenId { get; init; }
    public string Hostname { get; init; } = "";
    public string BelayId { get; init; } = "";
    public string Version { get; init; } = "";
    public string Rid { get; init; } = "";
    public string Os { get; init; } = "";

    /// <summary>The MAC addresses as the host reported them (JSON list).</summary>
    public string MacsJson { get; init; } = "[]";

    /// <summary>The group the agent says it follows (deployments), when it says one.</summary>
    public string? ReportedGroup { get; init; }
    public string? StateJson { get; init; }
    public DateTimeOffset? StateAt { get; init; }
    public DateTimeOffset? LastSeen { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
}

internal sealed record HelloRecord(string Hostname, string BelayId, string Version, string Rid, string Os, string MacsJson, string? Group);

internal sealed record StateRecord(string HostId, string StateJson, DateTimeOffset At, IReadOnlyList<DeployRecord> Deploys);

internal sealed record DeployRecord(string HostId, string App, DateTimeOffset At, string? Version, string? Result, string? Step, int? ExitCode);

internal sealed record UserRecord(long Id, string Name, string Role, string PasswordHash, DateTimeOffset CreatedAt);

internal sealed record SessionRecord(string Hash, long UserId, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt);

internal sealed record ApiTokenRecord(string Id, string Hash, long UserId, string UserName, string Name, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt,
    DateTimeOffset? LastUsed, DateTimeOffset? RevokedAt);

internal sealed record AuditRecord(long Id, DateTimeOffset At, string Actor, string Action, string? HostId, string? Target, string? Remote, string? Detail);

/// <summary>The two roles: a viewer sees the fleet and reads logs; an admin also enrolls, revokes and manages operators.</summary>
internal static class Roles
{
    public const string Viewer = "viewer";
    public const string Admin = "admin";

    public static bool IsValid(string role) => role is Viewer or Admin;
}
