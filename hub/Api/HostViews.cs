using System.Globalization;
using System.Text.Json;
using Belay.Hub.Storage;

namespace Belay.Hub.Api;

/// <summary>
/// What the fleet table shows of a host, read from what it reported: its hello (hostname,
/// version, MACs) and its last state (the <c>belay status --json</c> object). Pure: a record,
/// the state's JSON and whether it is connected in, a row out. Unknown keys in the state are
/// ignored and missing ones shown as unknown, so an older or newer agent still fits.
/// </summary>
internal static class HostViews
{
    /// <summary>Program states that mean something is wrong (RestartDecider: backoff after a crash, fatal after too many).</summary>
    private static readonly HashSet<string> BadProgramStates = new(StringComparer.Ordinal) { "backoff", "fatal" };

    public static HostSummary Summarize(HostRecord host, string? stateJson, DateTimeOffset? connectedSince)
    {
        ArgumentNullException.ThrowIfNull(host);
        var summary = new HostSummary
        {
            Id = host.Id,
            Hostname = host.Hostname,
            Group = host.ReportedGroup is { Length: > 0 } reported ? reported : host.Group,
            Version = host.Version,
            Connected = connectedSince is not null,
            ConnectedSince = connectedSince,
            Revoked = host.RevokedAt is not null,
            LastSeen = connectedSince is not null ? null : host.LastSeen,
            Os = host.Os,
            Rid = host.Rid,
            EnrolledAt = host.EnrolledAt,
            Macs = ParseMacs(host.MacsJson),
        };
        if (stateJson is not null)
        {
            ReadState(summary, stateJson);
        }
        if (summary.Revoked)
        {
            summary.Problems.Insert(0, "revoked");
        }
        summary.Health = summary.Problems.Count == 0 ? "ok" : "problem";
        return summary;
    }

    /// <summary>The filters of the fleet table: group, and state (connected, disconnected, problem, ok), and a search in name, id and MACs.</summary>
    public static bool Matches(HostSummary host, string? group, string? state, string? search)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (!string.IsNullOrEmpty(group) && host.Group != group)
        {
            return false;
        }
        var stateOk = state switch
        {
            null or "" or "all" => true,
            "connected" => host.Connected,
            "disconnected" => !host.Connected,
            "problem" => host.Health == "problem",
            "ok" => host.Health == "ok",
            _ => host.Programs.Any(p => p.State == state) || host.Apps.Any(a => a.State == state),
        };
        if (!stateOk)
        {
            return false;
        }
        return string.IsNullOrEmpty(search)
            || host.Hostname.Contains(search, StringComparison.OrdinalIgnoreCase)
            || host.Id.Contains(search, StringComparison.OrdinalIgnoreCase)
            || host.Macs.Any(m => m.Contains(search, StringComparison.OrdinalIgnoreCase))
            || host.Programs.Any(p => p.Name.Contains(search, StringComparison.OrdinalIgnoreCase))
            || host.Apps.Any(a => a.Name.Contains(search, StringComparison.OrdinalIgnoreCase));
    }

    private static void ReadState(HostSummary summary, string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (Text(root, "version") is { Length: > 0 } version)
            {
                summary.Version = version;
            }
            if (Text(root, "group") is { Length: > 0 } group)
            {
                summary.Group = group;
            }
            if (root.TryGetProperty("lastCheck", out var check) && check.ValueKind == JsonValueKind.Object)
            {
                summary.LastCheck = new LastCheckView { At = Time(check, "at"), Result = Text(check, "result"), Error = Text(check, "error") };
                if (summary.LastCheck.Result is "error" or "stale")
                {
                    summary.Problems.Add($"feed check: {summary.LastCheck.Error ?? summary.LastCheck.Result}");
                }
            }
            if (root.TryGetProperty("programs", out var programs) && programs.ValueKind == JsonValueKind.Array)
            {
                foreach (var p in programs.EnumerateArray().Where(p => p.ValueKind == JsonValueKind.Object))
                {
                    var view = new ProgramView
                    {
                        Name = Text(p, "name") ?? "?",
                        State = Text(p, "state") ?? "?",
                        Pid = p.TryGetProperty("pid", out var pid) && pid.ValueKind == JsonValueKind.Number && pid.TryGetInt32(out var n) ? n : null,
                        Restarts = p.TryGetProperty("restarts", out var r) && r.ValueKind == JsonValueKind.Number && r.TryGetInt32(out var rn) ? rn : 0,
                        StartedAt = Time(p, "startedAt"),
                        LastExit = Text(p, "lastExit"),
                    };
                    summary.Programs.Add(view);
                    if (BadProgramStates.Contains(view.State))
                    {
                        summary.Problems.Add($"program {view.Name}: {view.State}");
                    }
                }
            }
            if (root.TryGetProperty("apps", out var apps) && apps.ValueKind == JsonValueKind.Array)
            {
                foreach (var a in apps.EnumerateArray().Where(a => a.ValueKind == JsonValueKind.Object))
                {
                    var view = new AppView
                    {
                        Name = Text(a, "name") ?? "?",
                        State = Text(a, "state") ?? "?",
                        Desired = Text(a, "desired"),
                        Running = Text(a, "running"),
                        Step = Text(a, "step"),
                    };
                    summary.Apps.Add(view);
                    if (view.State == "failed")
                    {
                        summary.Problems.Add($"app {view.Name}: failed{(view.Step is null ? "" : $" at {view.Step}")}");
                    }
                }
            }
        }
        catch (JsonException)
        {
            summary.Problems.Add("its last state did not parse");
        }
    }

    private static List<string> ParseMacs(string json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, HubApiJsonContext.Default.ListString) ?? [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static DateTimeOffset? Time(JsonElement element, string name) =>
        Text(element, name) is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at : null;
}
