using System.Data.Common;
using System.Globalization;
using Belay.Core;

namespace Belay.Hub.Storage;

/// <summary>
/// <see cref="IHubStore"/> in SQL that SQLite and PostgreSQL both speak (named <c>@parameters</c>,
/// <c>ON CONFLICT</c>, <c>RETURNING</c>; times as fixed-width UTC text, so that text order is time
/// order in both): the queries are written once, here, and the two backends
/// (<see cref="SqliteHubStore"/>, <see cref="PostgresHubStore"/>) add only how a connection is
/// opened, how a write transaction starts, and how migrations are applied on their engine.
/// </summary>
internal abstract class SqlHubStore : IHubStore
{
    /// <summary>Where the database is, for error messages (a path, or a URL without its password).</summary>
    public abstract string Describe { get; }

    public abstract Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>The schema steps the database has (none for an empty one).</summary>
    public abstract Task<IReadOnlyList<int>> AppliedAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Refuses a database that is not at this build's schema: one from a newer hub (which an older one
    /// could damage), and one not migrated yet (say what to run).
    /// </summary>
    public async Task EnsureCurrentAsync(CancellationToken cancellationToken)
    {
        var applied = await AppliedAsync(cancellationToken).ConfigureAwait(false);
        var pending = Migrations.Pending(applied, Describe);
        if (pending.Count > 0)
        {
            var at = applied.Count == 0 ? "has no belay-hub schema yet" : $"is at schema step {applied.Max()} and this belay-hub needs {Migrations.Latest}";
            throw new BelayException($"the hub database {Describe} {at}: run 'belay-hub migrate --database URL' once (from any one node) and start again");
        }
    }

    /// <summary>A connection, open, set up for this engine; a <see cref="BelayException"/> when the database cannot be reached.</summary>
    protected abstract Task<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>A transaction that holds the write lock from its first statement (SQLite: BEGIN IMMEDIATE).</summary>
    protected abstract Task<DbTransaction> BeginAsync(DbConnection connection, CancellationToken cancellationToken);

    public async Task<long> RevisionAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var value = await ScalarAsync(connection, "SELECT value FROM meta WHERE key = 'revision'", cancellationToken).ConfigureAwait(false);
        return long.Parse((string)value!, CultureInfo.InvariantCulture);
    }

    public async Task CreateEnrollTokenAsync(EnrollTokenRecord token, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, """
            INSERT INTO enroll_tokens (id, hash, grp, uses_left, uses_total, expires_at, created_at, created_by)
            VALUES (@id, @hash, @grp, @uses, @uses, @expires, @created, @by)
            """, cancellationToken,
            ("@id", token.Id), ("@hash", token.Hash), ("@grp", token.Group), ("@uses", token.UsesTotal), ("@expires", Time(token.ExpiresAt)),
            ("@created", Time(token.CreatedAt)), ("@by", token.CreatedBy)).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<EnrollTokenRecord>> ListEnrollTokensAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await QueryAsync(connection, "SELECT id, hash, grp, uses_left, uses_total, expires_at, created_at, created_by, revoked_at FROM enroll_tokens ORDER BY created_at DESC",
            r => new EnrollTokenRecord(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt32(3), r.GetInt32(4), ParseTime(r.GetString(5)), ParseTime(r.GetString(6)),
                r.GetString(7), OptionalTime(r, 8)), cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> RevokeEnrollTokenAsync(string id, DateTimeOffset at, CancellationToken cancellationToken) =>
        await RevokeAsync("UPDATE enroll_tokens SET revoked_at = @at WHERE id = @id AND revoked_at IS NULL", id, at, cancellationToken).ConfigureAwait(false);

    public async Task<EnrollOutcome> EnrollAsync(string tokenHash, HostRecord host, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        // One statement checks and takes a use, under the row's write lock (SQLite: the database's),
        // so two hosts racing for the last use of a token cannot both get it.
        await using var transaction = await BeginAsync(connection, cancellationToken).ConfigureAwait(false);
        var taken = await QueryAsync(connection, """
            UPDATE enroll_tokens SET uses_left = uses_left - 1
            WHERE hash = @hash AND revoked_at IS NULL AND expires_at > @now AND uses_left > 0
            RETURNING id, grp
            """, r => (Id: r.GetString(0), Group: r.GetString(1)), transaction, cancellationToken, ("@hash", tokenHash), ("@now", Time(now))).ConfigureAwait(false);
        if (taken.Count == 0)
        {
            var why = await QueryAsync(connection, "SELECT grp, uses_left, expires_at, revoked_at FROM enroll_tokens WHERE hash = @hash",
                r => new EnrollOutcome(!r.IsDBNull(3) ? EnrollFailure.Revoked : ParseTime(r.GetString(2)) <= now ? EnrollFailure.Expired : EnrollFailure.UsedUp, r.GetString(0)),
                transaction, cancellationToken, ("@hash", tokenHash)).ConfigureAwait(false);
            return why.Count == 0 ? new EnrollOutcome(EnrollFailure.Unknown, "") : why[0];
        }
        var (id, group) = taken[0];
        await ExecuteAsync(connection, """
            INSERT INTO hosts (id, credential_hash, grp, enrolled_at, token_id, hostname, belay_id, version, rid, os, macs)
            VALUES (@id, @cred, @grp, @at, @token, @hostname, @belay, @version, @rid, @os, @macs)
            """, transaction, cancellationToken,
            ("@id", host.Id), ("@cred", host.CredentialHash), ("@grp", group), ("@at", Time(now)), ("@token", id), ("@hostname", host.Hostname),
            ("@belay", host.BelayId), ("@version", host.Version), ("@rid", host.Rid), ("@os", host.Os), ("@macs", host.MacsJson)).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new EnrollOutcome(EnrollFailure.None, group);
    }

    private const string HostColumns =
        "id, credential_hash, grp, enrolled_at, token_id, hostname, belay_id, version, rid, os, macs, reported_group, state_json, state_at, last_seen, revoked_at";

    private static HostRecord ReadHost(DbDataReader r) => new()
    {
        Id = r.GetString(0),
        CredentialHash = r.GetString(1),
        Group = r.GetString(2),
        EnrolledAt = ParseTime(r.GetString(3)),
        TokenId = r.IsDBNull(4) ? null : r.GetString(4),
        Hostname = r.GetString(5),
        BelayId = r.GetString(6),
        Version = r.GetString(7),
        Rid = r.GetString(8),
        Os = r.GetString(9),
        MacsJson = r.GetString(10),
        ReportedGroup = r.IsDBNull(11) ? null : r.GetString(11),
        StateJson = r.IsDBNull(12) ? null : r.GetString(12),
        StateAt = OptionalTime(r, 13),
        LastSeen = OptionalTime(r, 14),
        RevokedAt = OptionalTime(r, 15),
    };

    public async Task<HostRecord?> FindHostByCredentialAsync(string credentialHash, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var hosts = await QueryAsync(connection, $"SELECT {HostColumns} FROM hosts WHERE credential_hash = @h", ReadHost, cancellationToken, ("@h", credentialHash))
            .ConfigureAwait(false);
        return hosts.Count == 0 ? null : hosts[0];
    }

    public async Task<HostRecord?> GetHostAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var hosts = await QueryAsync(connection, $"SELECT {HostColumns} FROM hosts WHERE id = @id", ReadHost, cancellationToken, ("@id", id)).ConfigureAwait(false);
        return hosts.Count == 0 ? null : hosts[0];
    }

    public async Task<IReadOnlyList<HostRecord>> ListHostsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await QueryAsync(connection, $"SELECT {HostColumns} FROM hosts ORDER BY hostname, id", ReadHost, cancellationToken).ConfigureAwait(false);
    }

    public async Task RecordHelloAsync(string hostId, HelloRecord hello, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(hello);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, """
            UPDATE hosts SET hostname = @hostname, belay_id = @belay, version = @version, rid = @rid, os = @os, macs = @macs,
                reported_group = @group, last_seen = @at
            WHERE id = @id
            """, cancellationToken,
            ("@id", hostId), ("@hostname", hello.Hostname), ("@belay", hello.BelayId), ("@version", hello.Version), ("@rid", hello.Rid), ("@os", hello.Os),
            ("@macs", hello.MacsJson), ("@group", hello.Group), ("@at", Time(at))).ConfigureAwait(false);
    }

    public async Task SaveStatesAsync(IReadOnlyList<StateRecord> states, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(states);
        if (states.Count == 0)
        {
            return;
        }
        var statements = new List<(string Sql, (string, object?)[] Parameters)>();
        foreach (var state in states)
        {
            statements.Add(("UPDATE hosts SET state_json = @json, state_at = @at, last_seen = @at WHERE id = @id",
                [("@json", state.StateJson), ("@at", Time(state.At)), ("@id", state.HostId)]));
            foreach (var deploy in state.Deploys)
            {
                statements.Add(("""
                    INSERT INTO deploys (host_id, app, at, version, result, step, exit_code)
                    VALUES (@host, @app, @at, @version, @result, @step, @exit)
                    ON CONFLICT DO NOTHING
                    """, [("@host", deploy.HostId), ("@app", deploy.App), ("@at", Time(deploy.At)), ("@version", deploy.Version), ("@result", deploy.Result),
                    ("@step", deploy.Step), ("@exit", deploy.ExitCode)]));
            }
        }
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await BeginAsync(connection, cancellationToken).ConfigureAwait(false);
        await ExecuteManyAsync(connection, transaction, statements, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task RecordSeenAsync(string hostId, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "UPDATE hosts SET last_seen = @at WHERE id = @id", cancellationToken, ("@at", Time(at)), ("@id", hostId)).ConfigureAwait(false);
    }

    public async Task<bool> RevokeHostAsync(string id, DateTimeOffset at, CancellationToken cancellationToken) =>
        await RevokeAsync("UPDATE hosts SET revoked_at = @at WHERE id = @id AND revoked_at IS NULL", id, at, cancellationToken).ConfigureAwait(false);

    public async Task<IReadOnlyList<string>> RevokedAmongAsync(IReadOnlyCollection<string> hostIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(hostIds);
        if (hostIds.Count == 0)
        {
            return [];
        }
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var live = (await QueryAsync(connection, "SELECT id FROM hosts WHERE revoked_at IS NULL", r => r.GetString(0), cancellationToken).ConfigureAwait(false))
            .ToHashSet(StringComparer.Ordinal);
        return [.. hostIds.Where(h => !live.Contains(h))];
    }

    public async Task<IReadOnlyList<DeployRecord>> ListDeploysAsync(string? hostId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var where = hostId is null ? "" : "WHERE host_id = @host";
        return await QueryAsync(connection, $"SELECT host_id, app, at, version, result, step, exit_code FROM deploys {where} ORDER BY at DESC LIMIT @limit",
            r => new DeployRecord(r.GetString(0), r.GetString(1), ParseTime(r.GetString(2)), NullableString(r, 3), NullableString(r, 4), NullableString(r, 5),
                r.IsDBNull(6) ? null : r.GetInt32(6)),
            cancellationToken, ("@host", hostId), ("@limit", Math.Clamp(limit, 1, 10_000))).ConfigureAwait(false);
    }

    public async Task<bool> AddUserAsync(UserRecord user, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(user);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        // Nothing inserted: the name is taken.
        return await ExecuteAsync(connection, "INSERT INTO users (name, role, password_hash, created_at) VALUES (@n, @r, @p, @t) ON CONFLICT (name) DO NOTHING",
            cancellationToken, ("@n", user.Name), ("@r", user.Role), ("@p", user.PasswordHash), ("@t", Time(user.CreatedAt))).ConfigureAwait(false) > 0;
    }

    private static UserRecord ReadUser(DbDataReader r, int first = 0) =>
        new(Long(r, first), r.GetString(first + 1), r.GetString(first + 2), r.GetString(first + 3), ParseTime(r.GetString(first + 4)));

    public async Task<UserRecord?> FindUserAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var users = await QueryAsync(connection, "SELECT id, name, role, password_hash, created_at FROM users WHERE name = @n", r => ReadUser(r), cancellationToken, ("@n", name))
            .ConfigureAwait(false);
        return users.Count == 0 ? null : users[0];
    }

    public async Task<IReadOnlyList<UserRecord>> ListUsersAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await QueryAsync(connection, "SELECT id, name, role, password_hash, created_at FROM users ORDER BY name", r => ReadUser(r), cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> RemoveUserAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var removed = await ExecuteAsync(connection, "DELETE FROM users WHERE name = @n", cancellationToken, ("@n", name)).ConfigureAwait(false) > 0;
        if (removed)
        {
            await BumpRevisionAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        return removed;
    }

    public async Task<bool> SetPasswordAsync(string name, string passwordHash, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var changed = await ExecuteAsync(connection, "UPDATE users SET password_hash = @p WHERE name = @n", cancellationToken, ("@p", passwordHash), ("@n", name))
            .ConfigureAwait(false) > 0;
        if (changed)
        {
            // A new password ends every session of that user.
            await ExecuteAsync(connection, "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = @n)", cancellationToken, ("@n", name)).ConfigureAwait(false);
            await BumpRevisionAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        return changed;
    }

    public async Task CreateSessionAsync(SessionRecord session, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "DELETE FROM sessions WHERE expires_at < @now", cancellationToken, ("@now", Time(session.CreatedAt))).ConfigureAwait(false);
        await ExecuteAsync(connection, "INSERT INTO sessions (hash, user_id, created_at, expires_at) VALUES (@h, @u, @c, @e)", cancellationToken,
            ("@h", session.Hash), ("@u", session.UserId), ("@c", Time(session.CreatedAt)), ("@e", Time(session.ExpiresAt))).ConfigureAwait(false);
    }

    public async Task<(SessionRecord Session, UserRecord User)?> FindSessionAsync(string hash, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var found = await QueryAsync(connection, """
            SELECT s.hash, s.user_id, s.created_at, s.expires_at, u.id, u.name, u.role, u.password_hash, u.created_at
            FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = @h AND s.expires_at > @now
            """, r => (new SessionRecord(r.GetString(0), Long(r, 1), ParseTime(r.GetString(2)), ParseTime(r.GetString(3))), ReadUser(r, 4)),
            cancellationToken, ("@h", hash), ("@now", Time(now))).ConfigureAwait(false);
        return found.Count == 0 ? null : found[0];
    }

    public async Task DeleteSessionAsync(string hash, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        if (await ExecuteAsync(connection, "DELETE FROM sessions WHERE hash = @h", cancellationToken, ("@h", hash)).ConfigureAwait(false) > 0)
        {
            await BumpRevisionAsync(connection, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task CreateApiTokenAsync(ApiTokenRecord token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "INSERT INTO api_tokens (id, hash, user_id, name, created_at, expires_at) VALUES (@id, @h, @u, @n, @c, @e)", cancellationToken,
            ("@id", token.Id), ("@h", token.Hash), ("@u", token.UserId), ("@n", token.Name), ("@c", Time(token.CreatedAt)),
            ("@e", token.ExpiresAt is { } e ? Time(e) : null)).ConfigureAwait(false);
    }

    private const string TokenColumns = "t.id, t.hash, t.user_id, u.name, t.name, t.created_at, t.expires_at, t.last_used, t.revoked_at";

    private static ApiTokenRecord ReadToken(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), Long(r, 2), r.GetString(3), r.GetString(4), ParseTime(r.GetString(5)), OptionalTime(r, 6), OptionalTime(r, 7), OptionalTime(r, 8));

    public async Task<(ApiTokenRecord Token, UserRecord User)?> FindApiTokenAsync(string hash, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var found = await QueryAsync(connection, $"""
            SELECT {TokenColumns}, u.id, u.name, u.role, u.password_hash, u.created_at
            FROM api_tokens t JOIN users u ON u.id = t.user_id
            WHERE t.hash = @h AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > @now)
            """, r => (ReadToken(r), ReadUser(r, 9)), cancellationToken, ("@h", hash), ("@now", Time(now))).ConfigureAwait(false);
        if (found.Count == 0)
        {
            return null;
        }
        // last_used to the minute: enough to tell a forgotten token from one in use, without a write per request.
        if (found[0].Item1.LastUsed is not { } used || now - used > TimeSpan.FromMinutes(1))
        {
            await ExecuteAsync(connection, "UPDATE api_tokens SET last_used = @now WHERE hash = @h", cancellationToken, ("@now", Time(now)), ("@h", hash)).ConfigureAwait(false);
        }
        return found[0];
    }

    public async Task<IReadOnlyList<ApiTokenRecord>> ListApiTokensAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await QueryAsync(connection, $"SELECT {TokenColumns} FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.created_at DESC", ReadToken, cancellationToken)
            .ConfigureAwait(false);
    }

    public async Task<bool> RevokeApiTokenAsync(string id, DateTimeOffset at, CancellationToken cancellationToken) =>
        await RevokeAsync("UPDATE api_tokens SET revoked_at = @at WHERE id = @id AND revoked_at IS NULL", id, at, cancellationToken).ConfigureAwait(false);

    public async Task AddAuditAsync(AuditRecord entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "INSERT INTO audit (at, actor, action, host_id, target, remote, detail) VALUES (@at, @actor, @action, @host, @target, @remote, @detail)",
            cancellationToken, ("@at", Time(entry.At)), ("@actor", entry.Actor), ("@action", entry.Action), ("@host", entry.HostId), ("@target", entry.Target),
            ("@remote", entry.Remote), ("@detail", entry.Detail)).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<AuditRecord>> ListAuditAsync(int limit, string? action, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var where = action is null ? "" : "WHERE action = @action";
        return await QueryAsync(connection, $"SELECT id, at, actor, action, host_id, target, remote, detail FROM audit {where} ORDER BY id DESC LIMIT @limit",
            r => new AuditRecord(Long(r, 0), ParseTime(r.GetString(1)), r.GetString(2), r.GetString(3), NullableString(r, 4), NullableString(r, 5), NullableString(r, 6),
                NullableString(r, 7)),
            cancellationToken, ("@action", action), ("@limit", Math.Clamp(limit, 1, 100_000))).ConfigureAwait(false);
    }

    // --- plumbing ---------------------------------------------------------------------------------

    private async Task<bool> RevokeAsync(string sql, string id, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var changed = await ExecuteAsync(connection, sql, cancellationToken, ("@at", Time(at)), ("@id", id)).ConfigureAwait(false) > 0;
        if (changed)
        {
            await BumpRevisionAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        return changed;
    }

    private static Task<int> BumpRevisionAsync(DbConnection connection, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'revision'", cancellationToken);

    /// <summary>The parameters the statement uses (a query built with an optional clause may not use all of them).</summary>
    private static void Add(DbCommand command, (string Name, object? Value)[] parameters)
    {
        foreach (var (name, value) in parameters)
        {
            if (!command.CommandText.Contains(name, StringComparison.Ordinal))
            {
                continue;
            }
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }
    }

    protected static Task<int> ExecuteAsync(DbConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters) =>
        ExecuteAsync(connection, sql, null, cancellationToken, parameters);

    protected static async Task<int> ExecuteAsync(DbConnection connection, string sql, DbTransaction? transaction, CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        Add(command, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Several statements in one transaction: one round trip where the engine takes batches (PostgreSQL), one after the other where it does not.</summary>
    private static async Task ExecuteManyAsync(DbConnection connection, DbTransaction transaction, List<(string Sql, (string, object?)[] Parameters)> statements,
        CancellationToken cancellationToken)
    {
        if (!connection.CanCreateBatch)
        {
            foreach (var (sql, parameters) in statements)
            {
                await ExecuteAsync(connection, sql, transaction, cancellationToken, parameters).ConfigureAwait(false);
            }
            return;
        }
        for (var at = 0; at < statements.Count; at += 1000)
        {
            await using var batch = connection.CreateBatch();
            batch.Transaction = transaction;
            foreach (var (sql, parameters) in statements.Skip(at).Take(1000))
            {
                var command = batch.CreateBatchCommand();
                command.CommandText = sql;
                foreach (var (name, value) in parameters)
                {
                    var parameter = command.CreateParameter();
                    parameter.ParameterName = name;
                    parameter.Value = value ?? DBNull.Value;
                    command.Parameters.Add(parameter);
                }
                batch.BatchCommands.Add(command);
            }
            await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    protected static async Task<object?> ScalarAsync(DbConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    protected static Task<List<T>> QueryAsync<T>(DbConnection connection, string sql, Func<DbDataReader, T> read, CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters) => QueryAsync(connection, sql, read, null, cancellationToken, parameters);

    protected static async Task<List<T>> QueryAsync<T>(DbConnection connection, string sql, Func<DbDataReader, T> read, DbTransaction? transaction,
        CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        Add(command, parameters);
        var rows = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(read(reader));
        }
        return rows;
    }

    /// <summary>UTC, fixed width, so that text order is time order.</summary>
    internal static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    internal static DateTimeOffset ParseTime(string text) =>
        DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private static DateTimeOffset? OptionalTime(DbDataReader r, int i) => r.IsDBNull(i) ? null : ParseTime(r.GetString(i));

    /// <summary>An integer column as a long (PostgreSQL's INTEGER is 32 bits and its driver does not widen).</summary>
    private static long Long(DbDataReader r, int i) => r.GetFieldType(i) == typeof(int) ? r.GetInt32(i) : r.GetInt64(i);

    private static string? NullableString(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);
}
