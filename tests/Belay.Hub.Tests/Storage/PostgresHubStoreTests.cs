using Belay.Hub.Storage;
using Belay.TestSupport;

[assembly: AssemblyFixture(typeof(PostgresServer))]

namespace Belay.Hub.Tests.Storage;

/// <summary>The PostgreSQL store on a real PostgreSQL (one server per test run, a database per test): the same contract as SQLite, and its migrations.</summary>
public sealed class PostgresHubStoreTests(PostgresServer postgres) : HubStoreContract, IAsyncDisposable
{
    private readonly string _url = postgres.CreateDatabase("store");
    private readonly List<PostgresHubStore> _stores = [];

    private protected override SqlHubStore Open()
    {
        var store = OpenPostgres();
        store.MigrateAsync(Cancel).GetAwaiter().GetResult();
        return store;
    }

    private protected override SqlHubStore OpenAnother() => OpenPostgres();

    private PostgresHubStore OpenPostgres()
    {
        var store = new PostgresHubStore(PostgresUrl.Parse(_url));
        _stores.Add(store);
        return store;
    }

    [Fact]
    public async Task AnEmptyDatabaseIsRefusedUntilMigratedThenMigratingAgainChangesNothing()
    {
        var store = OpenPostgres();
        Assert.Empty(await store.AppliedAsync(Cancel));
        var refused = await Assert.ThrowsAsync<Core.BelayException>(() => store.EnsureCurrentAsync(Cancel));
        Assert.Contains("has no belay-hub schema yet: run 'belay-hub migrate --database URL'", refused.Message, StringComparison.Ordinal);
        await store.MigrateAsync(Cancel);
        await store.MigrateAsync(Cancel);
        await store.EnsureCurrentAsync(Cancel);
        Assert.Equal(Migrations.All.Select(s => s.Version), (await store.AppliedAsync(Cancel)).Order());
    }

    [Fact]
    public async Task ADatabaseOneStepBehindIsRefusedThenMigratedKeepingItsData()
    {
        var behind = Migrations.All[^2];
        var setup = postgres.Psql(_url, string.Join(";\n", Migrations.CreateTable, behind.Version == 1 ? Migrations.All[0].For(SqlDialect.Postgres) : throw new InvalidOperationException(),
            $"INSERT INTO schema_migrations (version, name, applied_at) VALUES ({behind.Version}, 'test', 'x')",
            "INSERT INTO users (name, role, password_hash, created_at) VALUES ('ann', 'admin', 'pw', '2026-12-01T12:00:00.0000000Z')"));
        Assert.True(setup.ExitCode == 0, setup.ToString());
        var store = OpenPostgres();
        var refused = await Assert.ThrowsAsync<Core.BelayException>(() => store.EnsureCurrentAsync(Cancel));
        Assert.Contains($"is at schema step {behind.Version} and this belay-hub needs {Migrations.Latest}: run 'belay-hub migrate", refused.Message, StringComparison.Ordinal);
        await store.MigrateAsync(Cancel);
        await store.EnsureCurrentAsync(Cancel);
        Assert.Equal("admin", (await store.FindUserAsync("ann", Cancel))!.Role);
    }

    [Fact]
    public async Task ADatabaseFromANewerHubIsRefusedByServeAndByMigrate()
    {
        await Store.MigrateAsync(Cancel);
        var future = postgres.Psql(_url, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')");
        Assert.True(future.ExitCode == 0, future.ToString());
        var store = OpenPostgres();
        Assert.Contains("newer belay-hub", (await Assert.ThrowsAsync<Core.BelayException>(() => store.EnsureCurrentAsync(Cancel))).Message, StringComparison.Ordinal);
        Assert.Contains("newer belay-hub", (await Assert.ThrowsAsync<Core.BelayException>(() => store.MigrateAsync(Cancel))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TwoMigrationsAtOnceApplyEachStepOnce()
    {
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => OpenPostgres().MigrateAsync(Cancel)));
        var count = postgres.Psql(_url, "SELECT count(*) FROM schema_migrations");
        Assert.Equal(Migrations.All.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), count.StdOut.Trim());
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }
    }
}
