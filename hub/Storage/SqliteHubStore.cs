using System.Data.Common;
using Belay.Core;
using Microsoft.Data.Sqlite;

namespace Belay.Hub.Storage;

/// <summary>
/// <see cref="IHubStore"/> on an embedded SQLite database (DATA/hub.db): WAL, so that readers
/// (the page, the CLI) never wait for the writer and the CLI can revoke while the hub serves;
/// <c>synchronous=NORMAL</c> (a power cut may lose the last commits, never the database);
/// a busy timeout instead of "database is locked" errors; foreign keys on. The file is 0600
/// in a 0700 folder. SQLite itself is linked into the executable (hub/Belay.Hub.csproj).
/// One hub process serves it, and it migrates itself when the hub or a command opens it.
/// </summary>
internal sealed class SqliteHubStore : SqlHubStore
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

    public override string Describe => _path;

    public override async Task MigrateAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(_path) && !OperatingSystem.IsWindows())
        {
            // Created owner-only before SQLite opens it: it holds hashes of every credential.
            using (File.Create(_path))
            {
            }
            File.SetUnixFileMode(_path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "PRAGMA journal_mode = WAL;", cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, Migrations.CreateTable, cancellationToken).ConfigureAwait(false);
        var applied = await QueryAsync(connection, "SELECT version FROM schema_migrations", r => r.GetInt32(0), cancellationToken).ConfigureAwait(false);
        foreach (var step in Migrations.Pending(applied, _path))
        {
            await using var transaction = (DbTransaction)((SqliteConnection)connection).BeginTransaction(deferred: false);
            await ExecuteAsync(connection, step.For(SqlDialect.Sqlite), transaction, cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, Migrations.Record, transaction, cancellationToken,
                ("@v", step.Version), ("@n", step.Name), ("@t", Time(DateTimeOffset.UtcNow))).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override async Task<IReadOnlyList<int>> AppliedAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(_path))
        {
            return [];
        }
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var table = await ScalarAsync(connection, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", cancellationToken)
            .ConfigureAwait(false);
        return Convert.ToInt64(table, System.Globalization.CultureInfo.InvariantCulture) == 0
            ? []
            : await QueryAsync(connection, "SELECT version FROM schema_migrations", r => r.GetInt32(0), cancellationToken).ConfigureAwait(false);
    }

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
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

    protected override Task<DbTransaction> BeginAsync(DbConnection connection, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));
}
