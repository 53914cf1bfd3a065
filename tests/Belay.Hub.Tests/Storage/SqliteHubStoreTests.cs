using Belay.Hub.Storage;
using Belay.TestSupport;
using Microsoft.Data.Sqlite;

namespace Belay.Hub.Tests.Storage;

/// <summary>The SQLite store on a real database file.</summary>
public sealed class SqliteHubStoreTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDir _dir = new();
    private readonly SqliteHubStore _store;
    private readonly CancellationToken _cancel = TestContext.Current.CancellationToken;

    public SqliteHubStoreTests()
    {
        _store = new SqliteHubStore(_dir.Path);
        _store.MigrateAsync(_cancel).GetAwaiter().GetResult();
    }

    private static HostRecord NewHost(string id) => new() { Id = id, CredentialHash = "cred-" + id, Group = "", EnrolledAt = Now, Hostname = "h-" + id };

    private Task AddToken(string id, int uses, DateTimeOffset expires) =>
        _store.CreateEnrollTokenAsync(new EnrollTokenRecord(id, "hash-" + id, "web", uses, uses, expires, Now, "test", null), _cancel);

    [Fact]
    public async Task TheDatabaseIsOwnerOnlyInWalModeAndMigratingTwiceChangesNothing()
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_dir.Combine("hub.db")));
        await _store.MigrateAsync(_cancel);
        await using var connection = new SqliteConnection($"Data Source={_dir.Combine("hub.db")}");
        await connection.OpenAsync(_cancel);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string?)await command.ExecuteScalarAsync(_cancel));
        command.CommandText = "SELECT count(*) FROM schema_migrations";
        Assert.Equal((long)Migrations.Latest, (long)(await command.ExecuteScalarAsync(_cancel))!);
    }

    [Fact]
    public async Task ADatabaseFromANewerHubIsRefused()
    {
        await using (var connection = new SqliteConnection($"Data Source={_dir.Combine("hub.db")}"))
        {
            await connection.OpenAsync(_cancel);
            await using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')";
            await command.ExecuteNonQueryAsync(_cancel);
        }
        SqliteConnection.ClearAllPools();
        var error = await Assert.ThrowsAsync<Core.BelayException>(() => new SqliteHubStore(_dir.Path).MigrateAsync(_cancel));
        Assert.Contains("newer belay-hub", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATokenEnrollsAsManyHostsAsItHasUsesThenIsUsedUp()
    {
        await AddToken("t1", 2, Now.AddHours(1));
        Assert.Equal(EnrollFailure.None, (await _store.EnrollAsync("hash-t1", NewHost("a"), Now, _cancel)).Failure);
        var second = await _store.EnrollAsync("hash-t1", NewHost("b"), Now, _cancel);
        Assert.Equal((EnrollFailure.None, "web"), (second.Failure, second.Group));
        Assert.Equal(EnrollFailure.UsedUp, (await _store.EnrollAsync("hash-t1", NewHost("c"), Now, _cancel)).Failure);
        Assert.Null(await _store.GetHostAsync("c", _cancel));
        Assert.Equal("web", (await _store.GetHostAsync("b", _cancel))!.Group);
        Assert.Equal(0, (await _store.ListEnrollTokensAsync(_cancel)).Single().UsesLeft);
    }

    [Fact]
    public async Task ExpiredRevokedAndUnknownTokensEnrollNobody()
    {
        await AddToken("old", 5, Now.AddSeconds(-1));
        await AddToken("gone", 5, Now.AddHours(1));
        await _store.RevokeEnrollTokenAsync("gone", Now, _cancel);
        Assert.Equal(EnrollFailure.Expired, (await _store.EnrollAsync("hash-old", NewHost("a"), Now, _cancel)).Failure);
        Assert.Equal(EnrollFailure.Revoked, (await _store.EnrollAsync("hash-gone", NewHost("b"), Now, _cancel)).Failure);
        Assert.Equal(EnrollFailure.Unknown, (await _store.EnrollAsync("hash-nope", NewHost("c"), Now, _cancel)).Failure);
        Assert.Empty(await _store.ListHostsAsync(_cancel));
    }

    [Fact]
    public async Task TwoHostsRacingForTheLastUseCannotBothGetIt()
    {
        await AddToken("last", 1, Now.AddHours(1));
        var stores = Enumerable.Range(0, 8).Select(_ => new SqliteHubStore(_dir.Path)).ToList();
        var outcomes = await Task.WhenAll(stores.Select((s, i) => Task.Run(() => s.EnrollAsync("hash-last", NewHost("r" + i), Now, _cancel), _cancel)));
        Assert.Single(outcomes, o => o.Failure == EnrollFailure.None);
        Assert.Single(await _store.ListHostsAsync(_cancel));
    }

    [Fact]
    public async Task RevokingAHostBumpsTheRevisionAndMarksItRevoked()
    {
        await AddToken("t", 5, Now.AddHours(1));
        await _store.EnrollAsync("hash-t", NewHost("a"), Now, _cancel);
        await _store.EnrollAsync("hash-t", NewHost("b"), Now, _cancel);
        var before = await _store.RevisionAsync(_cancel);
        Assert.True(await _store.RevokeHostAsync("a", Now, _cancel));
        Assert.False(await _store.RevokeHostAsync("a", Now, _cancel));
        Assert.Equal(before + 1, await _store.RevisionAsync(_cancel));
        Assert.Equal(["a"], await _store.RevokedAmongAsync(["a", "b"], _cancel));
        Assert.NotNull((await _store.FindHostByCredentialAsync("cred-a", _cancel))!.RevokedAt);
    }

    [Fact]
    public async Task StatesAreSavedInOneBatchWithTheirDeploysOnce()
    {
        await AddToken("t", 5, Now.AddHours(1));
        await _store.EnrollAsync("hash-t", NewHost("a"), Now, _cancel);
        var deploy = new DeployRecord("a", "shop", Now, "2.7.1", "ok", "commit", 0);
        await _store.SaveStatesAsync([new StateRecord("a", "{\"version\":\"1\"}", Now, [deploy])], _cancel);
        await _store.SaveStatesAsync([new StateRecord("a", "{\"version\":\"2\"}", Now.AddSeconds(2), [deploy])], _cancel);
        var host = (await _store.GetHostAsync("a", _cancel))!;
        Assert.Equal("{\"version\":\"2\"}", host.StateJson);
        Assert.Equal(Now.AddSeconds(2), host.LastSeen);
        Assert.Single(await _store.ListDeploysAsync("a", 10, _cancel));
    }

    [Fact]
    public async Task SessionsAndApiTokensExpireAndEndWithTheirUser()
    {
        Assert.True(await _store.AddUserAsync(new UserRecord(0, "ann", "admin", "pw", Now), _cancel));
        Assert.False(await _store.AddUserAsync(new UserRecord(0, "ann", "viewer", "pw", Now), _cancel));
        var ann = (await _store.FindUserAsync("ann", _cancel))!;
        await _store.CreateSessionAsync(new SessionRecord("s1", ann.Id, Now, Now.AddHours(1)), _cancel);
        await _store.CreateApiTokenAsync(new ApiTokenRecord("k1", "th", ann.Id, "ann", "ci", Now, Now.AddDays(1), null, null), _cancel);
        Assert.NotNull(await _store.FindSessionAsync("s1", Now, _cancel));
        Assert.Null(await _store.FindSessionAsync("s1", Now.AddHours(2), _cancel));
        Assert.NotNull(await _store.FindApiTokenAsync("th", Now, _cancel));
        Assert.Null(await _store.FindApiTokenAsync("th", Now.AddDays(2), _cancel));
        Assert.True(await _store.RemoveUserAsync("ann", _cancel));
        Assert.Null(await _store.FindSessionAsync("s1", Now, _cancel));
        Assert.Null(await _store.FindApiTokenAsync("th", Now, _cancel));
    }

    [Fact]
    public async Task TheAuditKeepsEveryEntryNewestFirst()
    {
        await _store.AddAuditAsync(new AuditRecord(0, Now, "ann", "log.view", "h1", "web stdout", "127.0.0.1", null), _cancel);
        await _store.AddAuditAsync(new AuditRecord(0, Now.AddSeconds(1), "ann", "login", null, null, "127.0.0.1", null), _cancel);
        var all = await _store.ListAuditAsync(10, null, _cancel);
        Assert.Equal(["login", "log.view"], all.Select(a => a.Action));
        Assert.Single(await _store.ListAuditAsync(10, "log.view", _cancel));
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }
}
