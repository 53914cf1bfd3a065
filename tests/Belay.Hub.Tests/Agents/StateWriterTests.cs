using Belay.Hub.Agents;
using Belay.Hub.Storage;
using Belay.TestSupport;

namespace Belay.Hub.Tests.Agents;

/// <summary>Agents' states batched into the database (hub/Agents/StateWriter.cs), and the deploy history taken from them.</summary>
public sealed class StateWriterTests : IDisposable
{
    private readonly TempDir _dir = new("belay-hub-states-");

    public void Dispose() => _dir.Dispose();

    private static string State(string version, string result, string step, string at) =>
        $$$"""{"apps":[{"name":"hello","lastDeploy":{"at":"{{{at}}}","version":"{{{version}}}","result":"{{{result}}}","step":"{{{step}}}"}}]}""";

    [Fact]
    public async Task ADeployWhoseStateWasReplacedBeforeTheFlushIsStillHistory()
    {
        var data = _dir.Combine("data");
        HubServer.CreatePrivateDirectory(data);
        var store = new SqliteHubStore(data);
        var cancel = TestContext.Current.CancellationToken;
        await store.MigrateAsync(cancel);
        var writer = new StateWriter(store);
        var now = DateTimeOffset.UtcNow;

        // Within one flush: 1.0.0 committed, 1.1.0 rolled back, 1.2.0 failed (each state replaces the pending one).
        writer.Set("h1", State("1.0.0", "ok", "commit", "2026-12-06T10:00:00Z"), now);
        writer.Set("h1", State("1.1.0", "rolled-back", "health", "2026-12-06T10:00:05Z"), now);
        writer.Set("h1", State("1.1.0", "rolled-back", "health", "2026-12-06T10:00:05Z"), now);
        writer.Set("h1", State("1.2.0", "failed", "post_install", "2026-12-06T10:00:07Z"), now);
        await writer.FlushAsync(cancel);
        writer.Set("h1", State("1.2.0", "failed", "post_install", "2026-12-06T10:00:07Z"), now);
        await writer.FlushAsync(cancel);

        var history = await store.ListDeploysAsync("h1", 10, cancel);
        Assert.Equal([("1.2.0", "failed"), ("1.1.0", "rolled-back"), ("1.0.0", "ok")], history.Select(d => (d.Version, d.Result)));
    }

    private static string Polled(string at, string result = "ok") =>
        $$$"""{"version":"1.0.0","lastCheck":{"at":"{{{at}}}","result":"{{{result}}}"},"groupCheck":{"at":"{{{at}}}","result":"not-modified","sequence":3},"apps":[]}""";

    private async Task<SqliteHubStore> StoreWithHost(string id, CancellationToken cancel)
    {
        var data = _dir.Combine("data");
        HubServer.CreatePrivateDirectory(data);
        var store = new SqliteHubStore(data);
        await store.MigrateAsync(cancel);
        var now = DateTimeOffset.UtcNow;
        await store.CreateEnrollTokenAsync(new EnrollTokenRecord("t1", "hash-t1", "web", 1, 1, now.AddHours(1), now, "test", null), cancel);
        Assert.Equal(EnrollFailure.None, (await store.EnrollAsync("hash-t1", new HostRecord { Id = id, CredentialHash = "cred", Group = "", EnrolledAt = now, Hostname = "h" }, now, cancel)).Failure);
        return store;
    }

    /// <summary>A store with host h1 and a writer that has written its first state (polled at 10:00:00).</summary>
    private async Task<(SqliteHubStore Store, StateWriter Writer, DateTimeOffset T0)> FirstStateWritten(CancellationToken cancel)
    {
        var store = await StoreWithHost("h1", cancel);
        var writer = new StateWriter(store);
        var t0 = new DateTimeOffset(2026, 12, 6, 10, 0, 0, TimeSpan.Zero);
        writer.Set("h1", Polled("2026-12-06T10:00:00Z"), t0);
        await writer.FlushAsync(cancel);
        return (store, writer, t0);
    }

    private static async Task<string?> Stored(SqliteHubStore store, string id, CancellationToken cancel) => (await store.GetHostAsync(id, cancel))?.StateJson;

    [Fact]
    public async Task AStateThatOnlyMovedItsCheckTimesIsHeldUntilTheRefreshButShownAtOnce()
    {
        var cancel = TestContext.Current.CancellationToken;
        var (store, writer, t0) = await FirstStateWritten(cancel);
        Assert.Equal(Polled("2026-12-06T10:00:00Z"), await Stored(store, "h1", cancel));

        // The next polls: only lastCheck.at and groupCheck.at moved. This node shows them; the database waits.
        writer.Set("h1", Polled("2026-12-06T10:00:10Z"), t0.AddSeconds(10));
        await writer.FlushAsync(cancel);
        writer.Set("h1", Polled("2026-12-06T10:00:20Z"), t0.AddSeconds(20));
        await writer.FlushAsync(cancel);
        Assert.Equal(Polled("2026-12-06T10:00:00Z"), await Stored(store, "h1", cancel));
        Assert.Equal(Polled("2026-12-06T10:00:20Z"), writer.Latest("h1")?.Json);

        // Anything else that changed is written at the next flush.
        writer.Set("h1", Polled("2026-12-06T10:00:30Z", "error"), t0.AddSeconds(30));
        await writer.FlushAsync(cancel);
        Assert.Equal(Polled("2026-12-06T10:00:30Z", "error"), await Stored(store, "h1", cancel));

        // And the check times alone once RefreshEvery has passed since the last write.
        writer.Set("h1", Polled("2026-12-06T10:01:20Z", "error"), t0.AddSeconds(80));
        await writer.FlushAsync(cancel);
        Assert.Equal(Polled("2026-12-06T10:00:30Z", "error"), await Stored(store, "h1", cancel));
        writer.Set("h1", Polled("2026-12-06T10:01:31Z", "error"), t0.Add(TimeSpan.FromSeconds(30) + StateWriter.RefreshEvery + TimeSpan.FromSeconds(1)));
        await writer.FlushAsync(cancel);
        Assert.Equal(Polled("2026-12-06T10:01:31Z", "error"), await Stored(store, "h1", cancel));
    }

    [Fact]
    public async Task AHeldStateIsWrittenWhenTheHostDisconnectsOrTheHubStops()
    {
        var cancel = TestContext.Current.CancellationToken;
        var (store, writer, t0) = await FirstStateWritten(cancel);

        writer.Set("h1", Polled("2026-12-06T10:00:10Z"), t0.AddSeconds(10));
        await writer.FlushAsync(cancel, final: true);
        Assert.Equal(Polled("2026-12-06T10:00:10Z"), await Stored(store, "h1", cancel));

        writer.Set("h1", Polled("2026-12-06T10:00:20Z"), t0.AddSeconds(20));
        await writer.FlushAsync(cancel);
        Assert.Equal(Polled("2026-12-06T10:00:10Z"), await Stored(store, "h1", cancel));
        writer.Disconnected("h1");
        await writer.FlushAsync(cancel);
        Assert.Equal(Polled("2026-12-06T10:00:20Z"), await Stored(store, "h1", cancel));
        // Written, so this node no longer answers for the host from memory (it may be on another node now).
        Assert.Null(writer.Latest("h1"));

        // Back on this node: its first state is written whatever it holds.
        writer.Set("h1", Polled("2026-12-06T10:00:30Z"), t0.AddSeconds(30));
        await writer.FlushAsync(cancel);
        Assert.Equal(Polled("2026-12-06T10:00:30Z"), await Stored(store, "h1", cancel));
    }

    [Fact]
    public void TheShapeLeavesOutTheCheckTimesAndNothingElse()
    {
        Assert.Equal(StateWriter.Shape(Polled("2026-12-06T10:00:00Z")), StateWriter.Shape(Polled("2026-12-06T11:00:00Z")));
        Assert.NotEqual(StateWriter.Shape(Polled("2026-12-06T10:00:00Z")), StateWriter.Shape(Polled("2026-12-06T10:00:00Z", "error")));
        Assert.NotEqual(StateWriter.Shape("""{"version":"1.0.0","at":"1"}"""), StateWriter.Shape("""{"version":"1.0.0","at":"2"}"""));
        Assert.NotEqual(StateWriter.Shape("not json"), StateWriter.Shape("not json either"));
    }
}
