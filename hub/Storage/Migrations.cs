namespace Belay.Hub.Storage;

/// <summary>
/// The hub's schema, as numbered steps. A database records the steps it has (schema_migrations);
/// at start the hub applies the missing ones in order, each in its own transaction, and refuses a
/// database that has a step this build does not know (a newer hub wrote it: running an older one
/// on it could lose data). A step is never edited once released; a change is a new step.
/// </summary>
internal static class Migrations
{
    public sealed record Step(int Version, string Name, string Sql);

    public static readonly IReadOnlyList<Step> All =
    [
        new(1, "hosts, enrollment tokens, operators, sessions, API tokens, audit, deploy history", """
            CREATE TABLE meta (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            );
            INSERT INTO meta (key, value) VALUES ('revision', '0');

            CREATE TABLE enroll_tokens (
                id TEXT PRIMARY KEY,
                hash TEXT NOT NULL UNIQUE,
                grp TEXT NOT NULL,
                uses_left INTEGER NOT NULL,
                uses_total INTEGER NOT NULL,
                expires_at TEXT NOT NULL,
                created_at TEXT NOT NULL,
                created_by TEXT NOT NULL,
                revoked_at TEXT
            );

            CREATE TABLE hosts (
                id TEXT PRIMARY KEY,
                credential_hash TEXT NOT NULL UNIQUE,
                grp TEXT NOT NULL,
                enrolled_at TEXT NOT NULL,
                token_id TEXT,
                hostname TEXT NOT NULL DEFAULT '',
                belay_id TEXT NOT NULL DEFAULT '',
                version TEXT NOT NULL DEFAULT '',
                rid TEXT NOT NULL DEFAULT '',
                os TEXT NOT NULL DEFAULT '',
                macs TEXT NOT NULL DEFAULT '[]',
                reported_group TEXT,
                state_json TEXT,
                state_at TEXT,
                last_seen TEXT,
                revoked_at TEXT
            );

            CREATE TABLE users (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                role TEXT NOT NULL CHECK (role IN ('viewer', 'admin')),
                password_hash TEXT NOT NULL,
                created_at TEXT NOT NULL
            );

            CREATE TABLE sessions (
                hash TEXT PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL
            );

            CREATE TABLE api_tokens (
                id TEXT PRIMARY KEY,
                hash TEXT NOT NULL UNIQUE,
                user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                created_at TEXT NOT NULL,
                expires_at TEXT,
                last_used TEXT,
                revoked_at TEXT
            );

            CREATE TABLE audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at TEXT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                host_id TEXT,
                target TEXT,
                remote TEXT,
                detail TEXT
            );
            CREATE INDEX audit_at ON audit (at);

            CREATE TABLE deploys (
                host_id TEXT NOT NULL,
                app TEXT NOT NULL,
                at TEXT NOT NULL,
                version TEXT,
                result TEXT,
                step TEXT,
                exit_code INTEGER,
                PRIMARY KEY (host_id, app, at)
            );
            CREATE INDEX deploys_at ON deploys (at);
            """),
    ];

    /// <summary>The newest step this build knows.</summary>
    public static int Latest => All[^1].Version;

    /// <summary>The steps a database at <paramref name="applied"/> needs, in order; an error when it is ahead of this build.</summary>
    public static IReadOnlyList<Step> Pending(IReadOnlyCollection<int> applied, string where)
    {
        ArgumentNullException.ThrowIfNull(applied);
        var unknown = applied.Where(v => All.All(s => s.Version != v)).ToList();
        if (unknown.Count > 0)
        {
            throw new Core.BelayException(
                $"{where} has schema step(s) {string.Join(", ", unknown.Order())} that this belay-hub does not know (it knows up to {Latest}): it was written by a newer belay-hub; run that one, or restore a backup");
        }
        return [.. All.Where(s => !applied.Contains(s.Version)).OrderBy(s => s.Version)];
    }
}
