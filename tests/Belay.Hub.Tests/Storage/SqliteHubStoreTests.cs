using Belay.Hub.Storage;
using Belay.TestSupport;
using Microsoft.Data.Sqlite;

namespace Belay.Hub.Tests.Storage;

/// <summary>The SQLite store on a real database file.</summary>
public sealed class SqliteHubStoreTests : HubStoreContract, IDisposable
{
    private readonly TempDir _dir = new();

    private protected override SqlHubStore Open()
    {
        var store = new SqliteHubStore(_dir.Path);
        store.MigrateAsync(Cancel).GetAwaiter().GetResult();
        return store;
    }

    private protected override SqlHubStore OpenAnother() => new SqliteHubStore(_dir.Path);

    [Fact]
    public async Task TheDatabaseIsOwnerOnlyInWalModeAndMigratingTwiceChangesNothing()
    {
        _ = Store;
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_dir.Combine("hub.db")));
        await Store.MigrateAsync(Cancel);
        await using var connection = new SqliteConnection($"Data Source={_dir.Combine("hub.db")}");
        await connection.OpenAsync(Cancel);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string?)await command.ExecuteScalarAsync(Cancel));
        command.CommandText = "SELECT count(*) FROM schema_migrations";
        Assert.Equal((long)Migrations.Latest, (long)(await command.ExecuteScalarAsync(Cancel))!);
    }

    [Fact]
    public async Task ADatabaseFromANewerHubIsRefused()
    {
        _ = Store;
        await using (var connection = new SqliteConnection($"Data Source={_dir.Combine("hub.db")}"))
        {
            await connection.OpenAsync(Cancel);
            await using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')";
            await command.ExecuteNonQueryAsync(Cancel);
        }
        SqliteConnection.ClearAllPools();
        var error = await Assert.ThrowsAsync<Core.BelayException>(() => new SqliteHubStore(_dir.Path).MigrateAsync(Cancel));
        Assert.Contains("newer belay-hub", error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }
}
