using System.Data.Common;
using System.Net.Sockets;
using Belay.Core;
using Npgsql;

namespace Belay.Hub.Storage;

/// <summary>
/// <see cref="IHubStore"/> on PostgreSQL, which several hub nodes share (<see cref="Cluster.PostgresCluster"/>).
/// The same schema steps as SQLite (<see cref="Migrations"/>), applied only by <c>belay-hub migrate</c>:
/// while a fleet's nodes are upgraded one by one the schema changes once, when the operator says so,
/// never because one node happened to start first. Migrating holds an advisory lock, so two
/// <c>migrate</c> runs at once apply each step once. Npgsql's slim data source (arrays and TLS
/// enabled, nothing else): trim- and NativeAOT-clean.
/// </summary>
internal sealed class PostgresHubStore : SqlHubStore, IAsyncDisposable
{
    private const long MigrationLock = 0x62656c6179; // "belay"

    private readonly PostgresUrl _url;

    public PostgresHubStore(PostgresUrl url)
    {
        ArgumentNullException.ThrowIfNull(url);
        _url = url;
        var builder = new NpgsqlSlimDataSourceBuilder(url.ConnectionString);
        builder.EnableArrays();
        builder.EnableTransportSecurity();
        DataSource = builder.Build();
    }

    public NpgsqlDataSource DataSource { get; }

    public override string Describe => _url.Display;

    public override async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = (NpgsqlConnection)await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, $"SELECT pg_advisory_xact_lock({MigrationLock})", transaction, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, Migrations.CreateTable, transaction, cancellationToken).ConfigureAwait(false);
        var applied = await QueryAsync(connection, "SELECT version FROM schema_migrations", r => r.GetInt32(0), transaction, cancellationToken).ConfigureAwait(false);
        // PostgreSQL changes its schema in transactions: all the pending steps land, or none.
        foreach (var step in Migrations.Pending(applied, Describe))
        {
            await ExecuteAsync(connection, step.For(SqlDialect.Postgres), transaction, cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, Migrations.Record, transaction, cancellationToken,
                ("@v", step.Version), ("@n", step.Name), ("@t", Time(DateTimeOffset.UtcNow))).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public override async Task<IReadOnlyList<int>> AppliedAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        if (await ScalarAsync(connection, "SELECT to_regclass('schema_migrations') IS NULL", cancellationToken).ConfigureAwait(false) is true)
        {
            return [];
        }
        return await QueryAsync(connection, "SELECT version FROM schema_migrations", r => r.GetInt32(0), cancellationToken).ConfigureAwait(false);
    }

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or IOException or TimeoutException)
        {
            throw new BelayException($"cannot open the hub database {Describe}: {e.Message}", e);
        }
    }

    protected override async Task<DbTransaction> BeginAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await ((NpgsqlConnection)connection).BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

    public ValueTask DisposeAsync() => DataSource.DisposeAsync();
}
