using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Belay.Hub.Storage;

namespace Belay.Hub.Agents;

/// <summary>
/// Agents' states, written to the database in batches: the latest state of each host is held
/// here and flushed every couple of seconds in one transaction, so a thousand agents cost a
/// few writes a second, and a host that sends states faster than that only replaces its own
/// pending one. Deploy history is taken from the apps' <c>lastDeploy</c>: of the state written, and
/// of every state it replaced before the flush (a rollback followed within the flush by the next
/// deploy is history too; the store ignores a deploy it has).
/// </summary>
internal sealed class StateWriter
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Json, DateTimeOffset At)> _latest = new(StringComparer.Ordinal);
    private readonly IHubStore _store;

    public StateWriter(IHubStore store)
    {
        _store = store;
    }

    public void Set(string hostId, string json, DateTimeOffset at)
    {
        lock (_lock)
        {
            List<DeployRecord>? replaced = null;
            if (_pending.TryGetValue(hostId, out var old))
            {
                replaced = old.Replaced ?? [];
                replaced.AddRange(Deploys(hostId, old.Json));
            }
            _pending[hostId] = new Pending(json, at, replaced);
        }
        _latest[hostId] = (json, at);
    }

    /// <summary>The newest state of a connected host, fresher than the database by up to one flush.</summary>
    public (string Json, DateTimeOffset At)? Latest(string hostId) => _latest.TryGetValue(hostId, out var state) ? state : null;

    public void Forget(string hostId) => _latest.TryRemove(hostId, out _);

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        List<KeyValuePair<string, Pending>> taken;
        lock (_lock)
        {
            taken = [.. _pending];
            _pending.Clear();
        }
        var batch = new List<StateRecord>(taken.Count);
        foreach (var (hostId, state) in taken)
        {
            var deploys = Deploys(hostId, state.Json);
            if (state.Replaced is { } replaced)
            {
                deploys = [.. replaced.Concat(deploys).DistinctBy(d => (d.App, d.At))];
            }
            batch.Add(new StateRecord(hostId, state.Json, state.At, deploys));
        }
        await _store.SaveStatesAsync(batch, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The apps' last deploys in a state (DESIGN.md: apps[].lastDeploy {at, version, result, step, exitCode}).</summary>
    internal static List<DeployRecord> Deploys(string hostId, string json)
    {
        var deploys = new List<DeployRecord>();
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (!doc.RootElement.TryGetProperty("apps", out var apps) || apps.ValueKind != JsonValueKind.Array)
            {
                return deploys;
            }
            foreach (var app in apps.EnumerateArray())
            {
                if (app.ValueKind != JsonValueKind.Object || !app.TryGetProperty("lastDeploy", out var last) || last.ValueKind != JsonValueKind.Object
                    || !last.TryGetProperty("at", out var at) || at.ValueKind != JsonValueKind.String
                    || !DateTimeOffset.TryParse(at.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when))
                {
                    continue;
                }
                deploys.Add(new DeployRecord(hostId, Text(app, "name") ?? "?", when, Text(last, "version"), Text(last, "result"), Text(last, "step"),
                    last.TryGetProperty("exitCode", out var code) && code.ValueKind == JsonValueKind.Number && code.TryGetInt32(out var c) ? c : null));
            }
        }
        catch (JsonException)
        {
        }
        return deploys;
    }

    /// <summary>A host's state waiting for the flush, and the deploys of the states it replaced.</summary>
    private sealed record Pending(string Json, DateTimeOffset At, List<DeployRecord>? Replaced);

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() is { } s && s.Length > 200 ? s[..200] : value.GetString() : null;
}
