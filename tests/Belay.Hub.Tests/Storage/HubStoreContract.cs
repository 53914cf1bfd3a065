using Belay.Hub.Storage;

namespace Belay.Hub.Tests.Storage;

/// <summary>What every <see cref="IHubStore"/> backend does alike, run on each of them on a real database.</summary>
public abstract class HubStoreContract
{
    protected static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private protected CancellationToken Cancel { get; } = TestContext.Current.CancellationToken;
    private SqlHubStore? _opened;

    /// <summary>The store under test, migrated.</summary>
    private protected SqlHubStore Store => _opened ??= Open();

    private protected abstract SqlHubStore Open();

    /// <summary>A second store on the same database (another process, or another hub node).</summary>
    private protected abstract SqlHubStore OpenAnother();

    private static HostRecord NewHost(string id) => new() { Id = id, CredentialHash = "cred-" + id, Group = "", EnrolledAt = Now, Hostname = "h-" + id };

    private Task AddToken(string id, int uses, DateTimeOffset expires) =>
        Store.CreateEnrollTokenAsync(new EnrollTokenRecord(id, "hash-" + id, "web", uses, uses, expires, Now, "test", null), Cancel);

    [Fact]
    public async Task ATokenEnrollsAsManyHostsAsItHasUsesThenIsUsedUp()
    {
        await AddToken("t1", 2, Now.AddHours(1));
        Assert.Equal(EnrollFailure.None, (await Store.EnrollAsync("hash-t1", NewHost("a"), Now, Cancel)).Failure);
        var second = await Store.EnrollAsync("hash-t1", NewHost("b"), Now, Cancel);
        Assert.Equal((EnrollFailure.None, "web"), (second.Failure, second.Group));
        Assert.Equal(EnrollFailure.UsedUp, (await Store.EnrollAsync("hash-t1", NewHost("c"), Now, Cancel)).Failure);
        Assert.Null(await Store.GetHostAsync("c", Cancel));
        Assert.Equal("web", (await Store.GetHostAsync("b", Cancel))!.Group);
        Assert.Equal(0, (await Store.ListEnrollTokensAsync(Cancel)).Single().UsesLeft);
    }

    [Fact]
    public async Task ExpiredRevokedAndUnknownTokensEnrollNobody()
    {
        await AddToken("old", 5, Now.AddSeconds(-1));
        await AddToken("gone", 5, Now.AddHours(1));
        await Store.RevokeEnrollTokenAsync("gone", Now, Cancel);
        Assert.Equal(EnrollFailure.Expired, (await Store.EnrollAsync("hash-old", NewHost("a"), Now, Cancel)).Failure);
        Assert.Equal(EnrollFailure.Revoked, (await Store.EnrollAsync("hash-gone", NewHost("b"), Now, Cancel)).Failure);
        Assert.Equal(EnrollFailure.Unknown, (await Store.EnrollAsync("hash-nope", NewHost("c"), Now, Cancel)).Failure);
        Assert.Empty(await Store.ListHostsAsync(Cancel));
    }

    [Fact]
    public async Task TwoHostsRacingForTheLastUseCannotBothGetIt()
    {
        await AddToken("last", 1, Now.AddHours(1));
        var stores = Enumerable.Range(0, 8).Select(_ => OpenAnother()).ToList();
        var outcomes = await Task.WhenAll(stores.Select((s, i) => Task.Run(() => s.EnrollAsync("hash-last", NewHost("r" + i), Now, Cancel), Cancel)));
        Assert.Single(outcomes, o => o.Failure == EnrollFailure.None);
        Assert.Single(await Store.ListHostsAsync(Cancel));
    }

    [Fact]
    public async Task RevokingAHostBumpsTheRevisionAndMarksItRevoked()
    {
        await AddToken("t", 5, Now.AddHours(1));
        await Store.EnrollAsync("hash-t", NewHost("a"), Now, Cancel);
        await Store.EnrollAsync("hash-t", NewHost("b"), Now, Cancel);
        var before = await Store.RevisionAsync(Cancel);
        Assert.True(await Store.RevokeHostAsync("a", Now, Cancel));
        Assert.False(await Store.RevokeHostAsync("a", Now, Cancel));
        Assert.Equal(before + 1, await Store.RevisionAsync(Cancel));
        Assert.Equal(["a"], await Store.RevokedAmongAsync(["a", "b"], Cancel));
        Assert.NotNull((await Store.FindHostByCredentialAsync("cred-a", Cancel))!.RevokedAt);
    }

    [Fact]
    public async Task StatesAreSavedInOneBatchWithTheirDeploysOnce()
    {
        await AddToken("t", 5, Now.AddHours(1));
        await Store.EnrollAsync("hash-t", NewHost("a"), Now, Cancel);
        var deploy = new DeployRecord("a", "shop", Now, "2.7.1", "ok", "commit", 0);
        await Store.SaveStatesAsync([new StateRecord("a", "{\"version\":\"1\"}", Now, [deploy])], Cancel);
        await Store.SaveStatesAsync([new StateRecord("a", "{\"version\":\"2\"}", Now.AddSeconds(2), [deploy])], Cancel);
        var host = (await Store.GetHostAsync("a", Cancel))!;
        Assert.Equal("{\"version\":\"2\"}", host.StateJson);
        Assert.Equal(Now.AddSeconds(2), host.LastSeen);
        Assert.Single(await Store.ListDeploysAsync("a", 10, Cancel));
    }

    [Fact]
    public async Task SessionsAndApiTokensExpireAndEndWithTheirUser()
    {
        Assert.True(await Store.AddUserAsync(new UserRecord(0, "ann", "admin", "pw", Now), Cancel));
        Assert.False(await Store.AddUserAsync(new UserRecord(0, "ann", "viewer", "pw", Now), Cancel));
        var ann = (await Store.FindUserAsync("ann", Cancel))!;
        await Store.CreateSessionAsync(new SessionRecord("s1", ann.Id, Now, Now.AddHours(1)), Cancel);
        await Store.CreateApiTokenAsync(new ApiTokenRecord("k1", "th", ann.Id, "ann", "ci", Now, Now.AddDays(1), null, null), Cancel);
        Assert.NotNull(await Store.FindSessionAsync("s1", Now, Cancel));
        Assert.Null(await Store.FindSessionAsync("s1", Now.AddHours(2), Cancel));
        Assert.NotNull(await Store.FindApiTokenAsync("th", Now, Cancel));
        Assert.Null(await Store.FindApiTokenAsync("th", Now.AddDays(2), Cancel));
        Assert.True(await Store.RemoveUserAsync("ann", Cancel));
        Assert.Null(await Store.FindSessionAsync("s1", Now, Cancel));
        Assert.Null(await Store.FindApiTokenAsync("th", Now, Cancel));
    }

    [Fact]
    public async Task TheAuditKeepsEveryEntryNewestFirst()
    {
        await Store.AddAuditAsync(new AuditRecord(0, Now, "ann", "log.view", "h1", "web stdout", "127.0.0.1", null), Cancel);
        await Store.AddAuditAsync(new AuditRecord(0, Now.AddSeconds(1), "ann", "login", null, null, "127.0.0.1", null), Cancel);
        var all = await Store.ListAuditAsync(10, null, Cancel);
        Assert.Equal(["login", "log.view"], all.Select(a => a.Action));
        Assert.Single(await Store.ListAuditAsync(10, "log.view", Cancel));
    }
}
