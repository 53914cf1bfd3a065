using System.Data.Common;
using System.Globalization;
using Belay.Core;
using Microsoft.Data.Sqlite;

namespace Belay.Hub.Storage;

/// <summary>
/// <see cref="IHubStore"/> on an embedded SQLite database (DATA/hub.db): WAL, so that readers
/// (the page, the CLI) never wait for the writer and the CLI can revoke while the hub serves;
/// <c>synchronous=NORMAL</c> (a power cut may lose the last commits, never the database);
/// a busy timeout instead of "database is locked" errors; foreign keys on. The file is 0600
/// in a 0700 folder. SQLite itself is linked into the executable (hub/Belay.Hub.csproj).
/// </summary>
internal sealed class SqliteHubStore : IHubStore
{
    public const string FileName = "hub.db";

    private readonly string _connectionString;
    private readonly string _path;

    static SqliteHubStore() => SQLitePCL.raw.SetProvider(new SQLitePCL.SQLite3Provider_sqlite3());

    public SqliteHubStore(string dataDirectory)
    {
        _path = Path.Combine(dataDirectory, FileName);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = _path, Pooling = true, DefaultTimeout = 30 }.ToString();
    }

    /// <summary>The version of the SQLite library linked in.</summary>
    public static string SqliteVersion => SQLitePCL.raw.sqlite3_libversion().utf8_to_string();

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        var existed = File.Exists(_path);
        if (!existed && !OperatingSystem.IsWindows())
        {
            // Created owner-only before SQLite opens it: it holds hashes of every credential.
            using (File.Create(_path))
            {
            }
            File.SetUnixFileMode(_path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "PRAGMA journal_mode = WAL;", cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);",
            cancellationToken).ConfigureAwait(false);
        var applied = new List<int>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT version FROM schema_migrations";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                applied.Add(reader.GetInt32(0));
            }
        }
        foreach (var step in Migrations.Pending(applied, _path))
        {
            await using var transaction = connection.BeginTransaction(deferred: false);
            await using (var command = connection.CreateCommand())
            {
                command.Transaction = transaction;
                command.CommandText = step.Sql;
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            await using (var command = connection.CreateCommand())
            {
                command.Transaction = transaction;
                command.CommandText = "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($v, $n, $t)";
                command.Parameters.AddWithValue("$v", step.Version);
                command.Parameters.AddWithValue("$n", step.Name);
                command.Parameters.AddWithValue("$t", Time(DateTimeOffset.UtcNow));
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

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
            VALUES ($id, $hash, $grp, $uses, $uses, $expires, $created, $by)
            """, cancellationToken,
            ("$id", token.Id), ("$hash", token.Hash), ("$grp", token.Group), ("$uses", token.UsesTotal), ("$expires", Time(token.ExpiresAt)),
            ("$created", Time(token.CreatedAt)), ("$by", token.CreatedBy)).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<EnrollTokenRecord>> ListEnrollTokensAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await QueryAsync(connection, "SELECT id, hash, grp, uses_left, uses_total, expires_at, created_at, created_by, revoked_at FROM enroll_tokens ORDER BY created_at DESC",
            r => new EnrollTokenRecord(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt32(3), r.GetInt32(4), ParseTime(r.GetString(5)), ParseTime(r.GetString(6)),
                r.GetString(7), OptionalTime(r, 8)), cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> RevokeEnrollTokenAsync(string id, DateTimeOffset at, CancellationToken cancellationToken) =>
        await RevokeAsync("UPDATE enroll_tokens SET revoked_at = $at WHERE id = $id AND revoked_at IS NULL", id, at, cancellationToken).ConfigureAwait(false);

    public async Task<EnrollOutcome> EnrollAsync(string tokenHash, HostRecord host, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        // BEGIN IMMEDIATE: the check and the decrement happen under the write lock, so two hosts
        // racing for the last use of a token cannot both get it.
        await using var transaction = connection.BeginTransaction(deferred: false);
        string? id = null;
        string group = "";
        int usesLeft = 0;
        DateTimeOffset expires = default;
        bool revoked = false;
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "SELECT id, grp, uses_left, expires_at, revoked_at FROM enroll_tokens WHERE hash = $hash";
            command.Parameters.AddWithValue("$hash", tokenHash);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                id = reader.GetString(0);
                group = reader.GetString(1);
                usesLeft = reader.GetInt32(2);
                expires = ParseTime(reader.GetString(3));
                revoked = !reader.IsDBNull(4);
            }
        }
        var failure = id is null ? EnrollFailure.Unknown : revoked ? EnrollFailure.Revoked : expires <= now ? EnrollFailure.Expired : usesLeft <= 0 ? EnrollFailure.UsedUp : EnrollFailure.None;
        if (failure != EnrollFailure.None)
        {
            return new EnrollOutcome(failure, group);
        }
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "UPDATE enroll_tokens SET uses_left = uses_left - 1 WHERE id = $id";
            command.Parameters.AddWithValue("$id", id);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = """
                INSERT INTO hosts (id, credential_hash, grp, enrolled_at, token_id, hostname, belay_id, version, rid, os, macs)
                VALUES ($id, $cred, $grp, $at, $token, $hostname, $belay, $version, $rid, $os, $macs)
                """;
            Add(command, ("$id", host.Id), ("$cred", host.CredentialHash), ("$grp", group), ("$at", Time(now)), ("$token", id), ("$hostname", host.Hostname),
                ("$belay", host.BelayId), ("$version", host.Version), ("$rid", host.Rid), ("$os", host.Os), ("$macs", host.MacsJson));
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new EnrollOutcome(EnrollFailure.None, group);
    }

    private const string HostColumns =
        "id, credential_hash, grp, enrolled_at, token_id, hostname, belay_id, version, rid, os, macs, reported_group, state_json, state_at, last_seen, revoked_at";

    private static HostRecord ReadHost(SqliteDataReader r) => new()
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
        var hosts = await QueryAsync(connection, $"SELECT {HostColumns} FROM hosts WHERE credential_hash = $h", ReadHost, cancellationToken, ("$h", credentialHash))
            .ConfigureAwait(false);
        return hosts.Count == 0 ? null : hosts[0];
    }

    public async Task<HostRecord?> GetHostAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var hosts = await QueryAsync(connection, $"SELECT {HostColumns} FROM hosts WHERE id = $id", ReadHost, cancellationToken, ("$id", id)).ConfigureAwait(false);
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
            UPDATE hosts SET hostname = $hostname, belay_id = $belay, version = $version, rid = $rid, os = $os, macs = $macs,
                reported_group = $group, last_seen = $at
            WHERE id = $id
            """, cancellationToken,
            ("$id", hostId), ("$hostname", hello.Hostname), ("$belay", hello.BelayId), ("$version", hello.Version), ("$rid", hello.Rid), ("$os", hello.Os),
            ("$macs", hello.MacsJson), ("$group", hello.Group), ("$at", Time(at))).ConfigureAwait(false);
    }

    public async Task SaveStatesAsync(IReadOnlyList<StateRecord> states, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(states);
        if (states.Count == 0)
        {
            return;
        }
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = connection.BeginTransaction(deferred: false);
        foreach (var state in states)
        {
            await using (var command = connection.CreateCommand())
            {
                command.Transaction = transaction;
                command.CommandText = "UPDATE hosts SET state_json = $json, state_at = $at, last_seen = $at WHERE id = $id";
                Add(command, ("$json", state.StateJson), ("$at", Time(state.At)), ("$id", state.HostId));
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            foreach (var deploy in state.Deploys)
            {
                await using var command = connection.CreateCommand();
                command.Transaction = transaction;
                command.CommandText = """
                    INSERT OR IGNORE INTO deploys (host_id, app, at, version, result, step, exit_code)
                    VALUES ($host, $app, $at, $version, $result, $step, $exit)
                    """;
                Add(command, ("$host", deploy.HostId), ("$app", deploy.App), ("$at", Time(deploy.At)), ("$version", deploy.Version), ("$result", deploy.Result),
                    ("$step", deploy.Step), ("$exit", deploy.ExitCode));
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task RecordSeenAsync(string hostId, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "UPDATE hosts SET last_seen = $at WHERE id = $id", cancellationToken, ("$at", Time(at)), ("$id", hostId)).ConfigureAwait(false);
    }

    public async Task<bool> RevokeHostAsync(string id, DateTimeOffset at, CancellationToken cancellationToken) =>
        await RevokeAsync("UPDATE hosts SET revoked_at = $at WHERE id = $id AND revoked_at IS NULL", id, at, cancellationToken).ConfigureAwait(false);

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
        var where = hostId is null ? "" : "WHERE host_id = $host";
        return await QueryAsync(connection, $"SELECT host_id, app, at, version, result, step, exit_code FROM deploys {where} ORDER BY at DESC LIMIT $limit",
            r => new DeployRecord(r.GetString(0), r.GetString(1), ParseTime(r.GetString(2)), NullableString(r, 3), NullableString(r, 4), NullableString(r, 5),
                r.IsDBNull(6) ? null : r.GetInt32(6)),
            cancellationToken, ("$host", hostId), ("$limit", Math.Clamp(limit, 1, 10_000))).ConfigureAwait(false);
    }

    public async Task<bool> AddUserAsync(UserRecord user, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(user);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ExecuteAsync(connection, "INSERT INTO users (name, role, password_hash, created_at) VALUES ($n, $r, $p, $t)", cancellationToken,
                ("$n", user.Name), ("$r", user.Role), ("$p", user.PasswordHash), ("$t", Time(user.CreatedAt))).ConfigureAwait(false);
            return true;
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19)
        {
            return false; // SQLITE_CONSTRAINT: the name is taken
        }
    }

    private static UserRecord ReadUser(SqliteDataReader r, int first = 0) =>
        new(r.GetInt64(first), r.GetString(first + 1), r.GetString(first + 2), r.GetString(first + 3), ParseTime(r.GetString(first + 4)));

    public async Task<UserRecord?> FindUserAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var users = await QueryAsync(connection, "SELECT id, name, role, password_hash, created_at FROM users WHERE name = $n", r => ReadUser(r), cancellationToken, ("$n", name))
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
        var removed = await ExecuteAsync(connection, "DELETE FROM users WHERE name = $n", cancellationToken, ("$n", name)).ConfigureAwait(false) > 0;
        if (removed)
        {
            await BumpRevisionAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        return removed;
    }

    public async Task<bool> SetPasswordAsync(string name, string passwordHash, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var changed = await ExecuteAsync(connection, "UPDATE users SET password_hash = $p WHERE name = $n", cancellationToken, ("$p", passwordHash), ("$n", name))
            .ConfigureAwait(false) > 0;
        if (changed)
        {
            // A new password ends every session of that user.
            await ExecuteAsync(connection, "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = $n)", cancellationToken, ("$n", name)).ConfigureAwait(false);
            await BumpRevisionAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        return changed;
    }

    public async Task CreateSessionAsync(SessionRecord session, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "DELETE FROM sessions WHERE expires_at < $now", cancellationToken, ("$now", Time(session.CreatedAt))).ConfigureAwait(false);
        await ExecuteAsync(connection, "INSERT INTO sessions (hash, user_id, created_at, expires_at) VALUES ($h, $u, $c, $e)", cancellationToken,
            ("$h", session.Hash), ("$u", session.UserId), ("$c", Time(session.CreatedAt)), ("$e", Time(session.ExpiresAt))).ConfigureAwait(false);
    }

    public async Task<(SessionRecord Session, UserRecord User)?> FindSessionAsync(string hash, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var found = await QueryAsync(connection, """
            SELECT s.hash, s.user_id, s.created_at, s.expires_at, u.id, u.name, u.role, u.password_hash, u.created_at
            FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = $h AND s.expires_at > $now
            """, r => (new SessionRecord(r.GetString(0), r.GetInt64(1), ParseTime(r.GetString(2)), ParseTime(r.GetString(3))), ReadUser(r, 4)),
            cancellationToken, ("$h", hash), ("$now", Time(now))).ConfigureAwait(false);
        return found.Count == 0 ? null : found[0];
    }

    public async Task DeleteSessionAsync(string hash, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        if (await ExecuteAsync(connection, "DELETE FROM sessions WHERE hash = $h", cancellationToken, ("$h", hash)).ConfigureAwait(false) > 0)
        {
            await BumpRevisionAsync(connection, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task CreateApiTokenAsync(ApiTokenRecord token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "INSERT INTO api_tokens (id, hash, user_id, name, created_at, expires_at) VALUES ($id, $h, $u, $n, $c, $e)", cancellationToken,
            ("$id", token.Id), ("$h", token.Hash), ("$u", token.UserId), ("$n", token.Name), ("$c", Time(token.CreatedAt)),
            ("$e", token.ExpiresAt is { } e ? Time(e) : null)).ConfigureAwait(false);
    }

    private const string TokenColumns = "t.id, t.hash, t.user_id, u.name, t.name, t.created_at, t.expires_at, t.last_used, t.revoked_at";

    private static ApiTokenRecord ReadToken(SqliteDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetString(3), r.GetString(4), ParseTime(r.GetString(5)), OptionalTime(r, 6), OptionalTime(r, 7), OptionalTime(r, 8));

    public async Task<(ApiTokenRecord Token, UserRecord User)?> FindApiTokenAsync(string hash, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var found = await QueryAsync(connection, $"""
            SELECT {TokenColumns}, u.id, u.name, u.role, u.password_hash, u.created_at
            FROM api_tokens t JOIN users u ON u.id = t.user_id
            WHERE t.hash = $h AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $now)
            """, r => (ReadToken(r), ReadUser(r, 9)), cancellationToken, ("$h", hash), ("$now", Time(now))).ConfigureAwait(false);
        if (found.Count == 0)
        {
            return null;
        }
        // last_used to the minute: enough to tell a forgotten token from one in use, without a write per request.
        if (found[0].Item1.LastUsed is not { } used || now - used > TimeSpan.FromMinutes(1))
        {
            await ExecuteAsync(connection, "UPDATE api_tokens SET last_used = $now WHERE hash = $h", cancellationToken, ("$now", Time(now)), ("$h", hash)).ConfigureAwait(false);
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
        await RevokeAsync("UPDATE api_tokens SET revoked_at = $at WHERE id = $id AND revoked_at IS NULL", id, at, cancellationToken).ConfigureAwait(false);

    public async Task AddAuditAsync(AuditRecord entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "INSERT INTO audit (at, actor, action, host_id, target, remote, detail) VALUES ($at, $actor, $action, $host, $target, $remote, $detail)",
            cancellationToken, ("$at", Time(entry.At)), ("$actor", entry.Actor), ("$action", entry.Action), ("$host", entry.HostId), ("$target", entry.Target),
            ("$remote", entry.Remote), ("$detail", entry.Detail)).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<AuditRecord>> ListAuditAsync(int limit, string? action, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var where = action is null ? "" : "WHERE action = $action";
        return await QueryAsync(connection, $"SELECT id, at, actor, action, host_id, target, remote, detail FROM audit {where} ORDER BY id DESC LIMIT $limit",
            r => new AuditRecord(r.GetInt64(0), ParseTime(r.GetString(1)), r.GetString(2), r.GetString(3), NullableString(r, 4), NullableString(r, 5), NullableString(r, 6),
                NullableString(r, 7)),
            cancellationToken, ("$action", action), ("$limit", Math.Clamp(limit, 1, 100_000))).ConfigureAwait(false);
    }

    // --- plumbing ---------------------------------------------------------------------------------

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;", cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch (SqliteException e)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new BelayException($"cannot open the hub database {_path}: {e.Message}", e);
        }
    }

    private async Task<bool> RevokeAsync(string sql, string id, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var changed = await ExecuteAsync(connection, sql, cancellationToken, ("$at", Time(at)), ("$id", id)).ConfigureAwait(false) > 0;
        if (changed)
        {
            await BumpRevisionAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        return changed;
    }

    private static Task<int> BumpRevisionAsync(SqliteConnection connection, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'revision'", cancellationToken);

    private static void Add(SqliteCommand command, params (string Name, object? Value)[] parameters)
    {
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
    }

    private static async Task<int> ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        Add(command, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<object?> ScalarAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<List<T>> QueryAsync<T>(SqliteConnection connection, string sql, Func<SqliteDataReader, T> read, CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
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

    private static DateTimeOffset ParseTime(string text) =>
        DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private static DateTimeOffset? OptionalTime(DbDataReader r, int i) => r.IsDBNull(i) ? null : ParseTime(r.GetString(i));

    private static string? NullableString(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);
}
