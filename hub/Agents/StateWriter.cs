using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Belay.Hub.Storage;

namespace Belay.Hub.Agents;

/// <summary>
/// Agents' states, written to the database in batches: the latest state of each host is held
/// here and flushed every couple of seconds in one transaction, so a thousand agents cost a
/// few writes a second, and a host that sends states faster than that only replaces its own
/// pending one. Deploy history is taken from the apps' <c>lastDeploy</c>: of the state written, and
/// of every state it replaced before the flush (a rollback followed within the flush by the next
/// deploy is history too; the store ignores a deploy it has).
/// An idle agent sends a state at every poll only because its check times moved (<c>lastCheck.at</c>,
/// <c>groupCheck.at</c>): such a state is held in memory (the API of this node shows it at once) and
/// reaches the database at most once every <see cref="RefreshEvery"/>, when anything else changed, when
/// the host disconnects, or when the hub stops. At 10,000 agents polling every 10 s that is about 170
/// row updates a second instead of 1,000, and other hub nodes read a host's last check at most that old.
/// </summary>
internal sealed class StateWriter
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Pending> _held = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (byte[] Shape, DateTimeOffset At)> _written = new(StringComparer.Ordinal);
    private readonly HashSet<string> _gone = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Json, DateTimeOffset At)> _latest = new(StringComparer.Ordinal);
    private readonly IHubStore _store;

    /// <summary>How often a state that changed only in its check times is written.</summary>
    public static readonly TimeSpan RefreshEvery = TimeSpan.FromSeconds(60);

    public StateWriter(IHubStore store)
    {
        _store = store;
    }

    public void Set(string hostId, string json, DateTimeOffset at)
    {
        var shape = Shape(json);
        lock (_lock)
        {
            _gone.Remove(hostId);
            if (_pending.TryGetValue(hostId, out var old))
            {
                var replaced = old.Replaced ?? [];
                replaced.AddRange(Deploys(hostId, old.Json));
                _pending[hostId] = new Pending(json, at, shape, replaced);
            }
            else if (_written.TryGetValue(hostId, out var written) && written.Shape.AsSpan().SequenceEqual(shape) && at - written.At < RefreshEvery)
            {
                // Only the check times moved (the same deploys, so no history is lost by waiting).
                _held[hostId] = new Pending(json, at, shape, null);
            }
            else
            {
                _held.Remove(hostId);
                _pending[hostId] = new Pending(json, at, shape, null);
            }
        }
        _latest[hostId] = (json, at);
    }

    /// <summary>
    /// The host's connection to this node ended: a held state is written at the next flush, after which this node
    /// no longer answers for the host from memory (it may have connected to another node).
    /// </summary>
    public void Disconnected(string hostId)
    {
        lock (_lock)
        {
            if (_held.Remove(hostId, out var held) && !_pending.ContainsKey(hostId))
            {
                _pending[hostId] = held;
            }
            _gone.Add(hostId);
        }
    }

    /// <summary>The newest state of a connected host, fresher than the database by up to one flush.</summary>
    public (string Json, DateTimeOffset At)? Latest(string hostId) => _latest.TryGetValue(hostId, out var state) ? state : null;

    /// <summary>Writes the pending states; <paramref name="final"/> (the hub stopping) writes the held ones too.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken, bool final = false)
    {
        List<KeyValuePair<string, Pending>> taken;
        List<string> gone;
        lock (_lock)
        {
            if (final)
            {
                foreach (var (hostId, held) in _held)
                {
                    _pending.TryAdd(hostId, held);
                }
                _held.Clear();
            }
            taken = [.. _pending];
            _pending.Clear();
            gone = [.. _gone.Where(h => !_held.ContainsKey(h))];
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
        try
        {
            await _store.SaveStatesAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lock (_lock)
            {
                // Not written: the next state of each of these hosts is written whatever it holds.
                foreach (var (hostId, _) in taken)
                {
                    _written.Remove(hostId);
                }
            }
            throw;
        }
        lock (_lock)
        {
            foreach (var (hostId, state) in taken)
            {
                _written[hostId] = (state.Shape, state.At);
            }
            foreach (var hostId in gone.Where(h => _gone.Remove(h)))
            {
                _written.Remove(hostId);
                _latest.TryRemove(hostId, out _);
            }
        }
    }

    /// <summary>
    /// What a state says apart from its check times: the SHA-256 of the JSON with <c>lastCheck.at</c> and
    /// <c>groupCheck.at</c> taken out (the agent writes its state with one serializer, so equal states are equal text).
    /// A state that is not a JSON object is its own shape.
    /// </summary>
    internal static byte[] Shape(string json)
    {
        try
        {
            if (JsonNode.Parse(json) is JsonObject root)
            {
                foreach (var name in (ReadOnlySpan<string>)["lastCheck", "groupCheck"])
                {
                    if (root[name] is JsonObject check)
                    {
                        check.Remove("at");
                    }
                }
                return SHA256.HashData(Encoding.UTF8.GetBytes(root.ToJsonString()));
            }
        }
        catch (JsonException)
        {
        }
        return SHA256.HashData(Encoding.UTF8.GetBytes(json));
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
    private sealed record Pending(string Json, DateTimeOffset At, byte[] Shape, List<DeployRecord>? Replaced);

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() is { } s && s.Length > 200 ? s[..200] : value.GetString() : null;
}
