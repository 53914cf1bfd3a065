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
}
