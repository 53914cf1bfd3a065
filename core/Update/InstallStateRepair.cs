using System.Text.Json;
using Belay.Core.Versioning;

namespace Belay.Core.Update;

/// <summary>A rebuilt state and what each of its values was taken from, for the operator.</summary>
public sealed record StateRepair(InstallState State, IReadOnlyList<string> Notes);

/// <summary>
/// Rebuilds state.json when it is damaged (belay doctor --repair, belay install), from what
/// survives, in this order of trust: the fields of the damaged file that still read as what
/// they must be (a truncated or hand-broken file often keeps most of them); the version the
/// last agent ran (agent.json); the versions installed in versions/. Pure: the caller reads the
/// files and writes the result.
/// <list type="bullet">
/// <item>Current: the damaged file's current if it is installed and not bad, else the agent's
///   last version if installed and not bad, else the newest installed version not known bad,
///   else the newest installed (taken off the bad list: it is all there is).</item>
/// <item>Previous: the damaged file's previous if installed, not bad and not current; else none.</item>
/// <item>Bad: the versions of the damaged file's bad list that read, minus current.</item>
/// <item>Trial: none. A trial that was running is given up: the agent stages that version
///   again if it is still the newest, and the keeper tries it afresh.</item>
/// </list>
/// </summary>
public static class InstallStateRepair
{
    /// <param name="damaged">The damaged file's bytes (anything; empty when it is gone).</param>
    /// <param name="lastAgentVersion">agent.json's version, or null.</param>
    /// <param name="installed">The versions with an agent in versions/.</param>
    /// <exception cref="BelayException">No version is installed: there is nothing to run.</exception>
    public static StateRepair Rebuild(ReadOnlySpan<byte> damaged, string? lastAgentVersion, IEnumerable<string> installed, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(installed);
        var versions = installed.Where(IsVersion).Distinct(StringComparer.Ordinal).OrderByDescending(SemVersion.Parse).ToList();
        var (current, previous, bad) = Salvage(damaged);
        var notes = new List<string>();
        bool Usable(string? v) => v is not null && versions.Contains(v, StringComparer.Ordinal) && !bad.Contains(v, StringComparer.Ordinal);
        string chosen;
        if (Usable(current))
        {
            chosen = current!;
            notes.Add($"current {chosen}: kept from the damaged file");
        }
        else if (Usable(lastAgentVersion))
        {
            chosen = lastAgentVersion!;
            notes.Add($"current {chosen}: the version the agent last ran (agent.json)");
        }
        else if (versions.FirstOrDefault(v => !bad.Contains(v, StringComparer.Ordinal)) is { } newest)
        {
            chosen = newest;
            notes.Add($"current {chosen}: the newest installed version");
        }
        else if (versions.Count > 0)
        {
            chosen = versions[0];
            notes.Add($"current {chosen}: the newest installed version, though it was marked bad: it is the only one there");
        }
        else
        {
            throw new BelayException("no version is installed (versions/ holds no agent), so there is nothing to rebuild the state around; run belay install --feed URL");
        }
        var state = new InstallState
        {
            Current = chosen,
            Previous = Usable(previous) && previous != chosen ? previous : null,
            Bad = [.. bad.Where(v => v != chosen)],
            CommittedAt = now,
        };
        if (state.Previous is { } p)
        {
            notes.Add($"previous {p}: kept from the damaged file");
        }
        if (state.Bad.Count > 0)
        {
            notes.Add($"bad versions kept from the damaged file: {string.Join(", ", state.Bad)}");
        }
        return new StateRepair(state, notes);
    }

    private static bool IsVersion(string? text) => text is not null && SemVersion.TryParse(text, out _, out _);

    /// <summary>The fields of a damaged file that still read: current, previous and the bad versions.</summary>
    private static (string? Current, string? Previous, List<string> Bad) Salvage(ReadOnlySpan<byte> damaged)
    {
        try
        {
            using var document = JsonDocument.Parse(damaged.ToArray());
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return (null, null, []);
            }
            string? Text(string name) =>
                root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && IsVersion(value.GetString()) ? value.GetString() : null;
            var bad = root.TryGetProperty("bad", out var list) && list.ValueKind == JsonValueKind.Array
                ? list.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String && IsVersion(e.GetString())).Select(e => e.GetString()!).Distinct(StringComparer.Ordinal).ToList()
                : [];
            return (Text("current"), Text("previous"), bad);
        }
        catch (JsonException)
        {
            return (null, null, []);
        }
    }
}
