using System.Text.Json;
using System.Text.Json.Serialization;

namespace Belay.Core.Deploy;

/// <summary>
/// One app as <c>belay status --json</c> (its <c>apps</c> list), <c>belay apps --json</c> and the
/// hub show it (DESIGN.md, "Deployments"): name, desired, running, state, step, bad, lastDeploy;
/// more keys may be added, none renamed. Holds no secret: reports and outputs are redacted
/// before they are journaled.
/// </summary>
public sealed class AppStatus
{
    public string Name { get; set; } = "";

    /// <summary>The version the group document asks for (null when it names the app absent, or never named it).</summary>
    public string? Desired { get; set; }

    /// <summary>running, stopped or absent: the state the group document asks for.</summary>
    public string? DesiredState { get; set; }

    /// <summary>The version whose process runs now, or null.</summary>
    public string? Running { get; set; }

    /// <summary>converged, deploying, failed, stopped or absent.</summary>
    public string State { get; set; } = "";

    /// <summary>The step in progress (pre_install, …, health, restore), or null.</summary>
    public string? Step { get; set; }

    /// <summary>The versions marked bad for this app (not tried again while the group document names them).</summary>
    public List<string> Bad { get; set; } = [];

    /// <summary>The committed release and the one it replaced.</summary>
    public string? Current { get; set; }
    public string? Previous { get; set; }

    public int? Pid { get; set; }
    public int Restarts { get; set; }

    /// <summary>The rollout does not admit this host to the desired version yet.</summary>
    public bool Waiting { get; set; }

    /// <summary>When a failed fetch is tried again.</summary>
    public DateTimeOffset? RetryAt { get; set; }
    public LastDeploy? LastDeploy { get; set; }

    /// <summary>Why the app cannot be deployed at all (its journal does not read), else null.</summary>
    public string? Error { get; set; }

    /// <summary>
    /// The status of an app from its journal and, when <paramref name="live"/> (the agent answers), from
    /// its supervised process; from the journal alone, running is the committed release if it should run.
    /// </summary>
    public static AppStatus From(AppJournal journal, AppProcessInfo? process, bool live)
    {
        ArgumentNullException.ThrowIfNull(journal);
        var status = process?.Status;
        var running = status is { Pid: > 0 } && status.Environment.TryGetValue("BELAY_VERSION", out var v) ? v : null;
        var desired = journal.Desired;
        return new AppStatus
        {
            Name = journal.Name,
            Desired = desired is { State: not AppDesiredState.Absent } ? desired.Version : null,
            DesiredState = desired is null ? null : LifecycleNames.Of(desired.State),
            Running = live ? running : journal.Deploy is null && journal.Running ? journal.Current : null,
            State = journal.Describe(),
            Step = journal.Deploy is { } d ? LifecycleNames.Of(d.Step) : null,
            Bad = [.. journal.Bad.Select(b => b.Version).Distinct(StringComparer.Ordinal)],
            Current = journal.Current,
            Previous = journal.Previous,
            Pid = status?.Pid,
            Restarts = status?.Restarts ?? 0,
            Waiting = desired is { Admitted: false },
            RetryAt = journal.Retry?.At,
            LastDeploy = journal.History.Count == 0 ? null : LastDeploy.Of(journal.History[^1]),
        };
    }
}

/// <summary>lastDeploy: at, version, result, step, exitCode, output (DESIGN.md), and more.</summary>
public sealed class LastDeploy
{
    public DateTimeOffset At { get; set; }
    public DateTimeOffset FinishedAt { get; set; }
    public string Kind { get; set; } = "";
    public string Version { get; set; } = "";
    public string? From { get; set; }

    /// <summary>ok, failed or rolled-back.</summary>
    public string Result { get; set; } = "";
    public string Step { get; set; } = "";
    public int? ExitCode { get; set; }
    public double DurationSeconds { get; set; }
    public string? Reason { get; set; }

    /// <summary>The last 4 KiB of the deploy's output, secrets redacted.</summary>
    public string Output { get; set; } = "";

    public static LastDeploy Of(DeployReport r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return new()
        {
            At = r.At,
            FinishedAt = r.FinishedAt,
            Kind = r.Kind,
            Version = r.Version,
            From = r.From,
            Result = r.Result,
            Step = r.Step,
            ExitCode = r.ExitCode,
            DurationSeconds = r.DurationSeconds,
            Reason = r.Reason,
            Output = r.Output,
        };
    }
}

/// <summary>The last poll of the group document: when, how it went, the sequence taken.</summary>
public sealed class GroupCheck
{
    public DateTimeOffset At { get; set; }

    /// <summary>changed, not-modified, missing (no document for the group yet), or error.</summary>
    public string Result { get; set; } = "";
    public string? Error { get; set; }
    public long Sequence { get; set; }
}

/// <summary>What the agent answers to APPS on its control socket, and what belay apps prints.</summary>
public sealed class AppsReport
{
    public string Group { get; set; } = "";
    public GroupCheck? GroupCheck { get; set; }
    public List<AppStatus> Apps { get; set; } = [];

    /// <summary>From the journals on disk alone (the agent does not answer): running is the committed release if it should run.</summary>
    public static AppsReport FromDisk(AppPaths paths, string group, GroupCheck? check)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var report = new AppsReport { Group = group, GroupCheck = check };
        if (!Directory.Exists(paths.StateDir))
        {
            return report;
        }
        foreach (var file in Directory.EnumerateFiles(paths.StateDir, "*.json").Order(StringComparer.Ordinal))
        {
            try
            {
                if (AppJournalStore.TryLoad(file) is { } journal)
                {
                    report.Apps.Add(AppStatus.From(journal, null, live: false));
                }
            }
            catch (BelayException e)
            {
                report.Apps.Add(new AppStatus { Name = Path.GetFileNameWithoutExtension(file), State = "failed", Error = e.Message });
            }
        }
        return report;
    }

    public string ToJson() => JsonSerializer.Serialize(this, AppsJsonContext.Default.AppsReport);

    public static AppsReport? TryParse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, AppsJsonContext.Default.AppsReport);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(AppsReport))]
[JsonSerializable(typeof(List<DeployReport>))]
public sealed partial class AppsJsonContext : JsonSerializerContext;
