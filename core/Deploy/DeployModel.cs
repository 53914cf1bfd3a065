using System.Security.Cryptography;
using System.Text;

namespace Belay.Core.Deploy;

// The values DeployMachine.Decide works on: what the group document asks of an app, and
// what this host has done about it (the journal, one file per app).

/// <summary>The steps of an app's lifecycle (DESIGN.md, "Deployments"), in order.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(Belay.Core.IO.EnumNameConverter<DeployStep>))]
public enum DeployStep
{
    /// <summary>Enough disk for the archive and its release; the app's secrets decrypt.</summary>
    Precheck,

    /// <summary>Download the artifact (size and SHA-256 checked) and extract it defensively into a private folder.</summary>
    Fetch,

    /// <summary>The new release's pre_install, run from the private folder.</summary>
    PreInstall,

    /// <summary>The private folder is renamed to releases/&lt;app&gt;/&lt;version&gt;.</summary>
    Unpack,

    PostInstall,

    /// <summary>Stop the installed release: its pre_stop (a failure is logged, never blocks), the stop signal, SIGKILL after stop_timeout, its post_stop.</summary>
    Stop,

    PreStart,

    /// <summary>Start the release's exec, supervised; it must stay up for start_timeout.</summary>
    Exec,

    PostStart,

    /// <summary>The health gate: healthy for healthy_for within deadline.</summary>
    Health,

    /// <summary>The release becomes current (a journal write; then old releases are pruned).</summary>
    Commit,

    /// <summary>After a failure past the stop: stop the new release, start the one it replaced.</summary>
    Restore,

    /// <summary>The uninstall hook of the installed release (state absent).</summary>
    Uninstall,

    /// <summary>The app's release folders and its process are removed (state absent).</summary>
    Remove,
}

/// <summary>What a deploy does to an app.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(Belay.Core.IO.EnumNameConverter<DeployKind>))]
public enum DeployKind
{
    /// <summary>Another version: install it, then stop the old release and start it (or leave it stopped).</summary>
    Install,

    /// <summary>The same version with another environment or user: restart it with them, through the health gate.</summary>
    Reconfigure,

    /// <summary>Start the installed release (desired state running).</summary>
    Start,

    /// <summary>Stop the installed release (desired state stopped).</summary>
    Stop,

    /// <summary>Stop, uninstall hook, remove every release (desired state absent).</summary>
    Remove,
}

/// <summary>Names on the wire and in reports: pre_install, running, rolled-back, …</summary>
public static class LifecycleNames
{
    public static string Of(DeployStep step) => step switch
    {
        DeployStep.PreInstall => "pre_install",
        DeployStep.PostInstall => "post_install",
        DeployStep.PreStart => "pre_start",
        DeployStep.PostStart => "post_start",
        _ => step.ToString().ToLowerInvariant(),
    };

    public static string Of(DeployKind kind) => kind.ToString().ToLowerInvariant();

    public static string Of(AppDesiredState state) => state.ToString().ToLowerInvariant();
}

/// <summary>This host's artifact of a release in the group document (its own RID, else <c>any</c>): where it is, and the size and SHA-256 that bind it.</summary>
public sealed record AppArtifact(string Rid, string Path, string Sha256, long Size);

/// <summary>
/// One entry of an app's environment as the group document gives it: a plain value, or a
/// secret (<see cref="Age"/>, the armored age file) that only the host's group identity
/// decrypts. The journal keeps this form; a decrypted value is never written anywhere.
/// </summary>
public sealed record EnvEntry(string Name, string? Value = null, string? Age = null)
{
    public bool IsSecret => Age is not null;
}

/// <summary>What the group document says about how an app runs on this host besides its version.</summary>
public sealed record AppSettings
{
    public static AppSettings Empty { get; } = new();

    public IReadOnlyList<EnvEntry> Env { get; init; } = [];

    /// <summary>The user the app and its hooks run as; wins over belay-app.conf's user.</summary>
    public string? User { get; init; }

    public bool Equals(AppSettings? other) =>
        other is not null && User == other.User && Env.SequenceEqual(other.Env);

    public override int GetHashCode() => HashCode.Combine(User, Env.Count);
}

/// <summary>
/// What the group document asks of one app on this host, once verified: its version and
/// state, this host's artifact, its settings, and whether the rollout admits this host.
/// <see cref="Revision"/> names the version with its settings: a failed deploy marks the
/// revision bad, so the same version with a fixed environment is tried again.
/// </summary>
public sealed record AppTarget
{
    public required string Name { get; init; }

    /// <summary>The version; empty when <see cref="State"/> is absent.</summary>
    public string Version { get; init; } = "";

    public AppDesiredState State { get; init; } = AppDesiredState.Running;

    /// <summary>This host's artifact (its RID, else <c>any</c>); null when absent, or when none fits this host.</summary>
    public AppArtifact? Artifact { get; init; }

    public AppSettings Settings { get; init; } = AppSettings.Empty;

    /// <summary>False while the app's rollout does not admit this host to <see cref="Version"/>: the host keeps what it has.</summary>
    public bool Admitted { get; init; } = true;

    /// <summary>The group document's sequence it came from (for reports).</summary>
    public long Sequence { get; init; }

    public string Revision => ComputeRevision(Version, Settings);

    /// <summary>An app the group document names as absent.</summary>
    public static AppTarget Absent(string name, long sequence = 0) => new() { Name = name, State = AppDesiredState.Absent, Sequence = sequence };

    /// <summary>
    /// What a verified group document's entry asks of this host: its artifact for
    /// <paramref name="hostRid"/> (own RID over <c>any</c>), its settings, and whether the
    /// rollout admits <paramref name="hostId"/> (<see cref="DeployPolicy.IsAdmitted"/>).
    /// </summary>
    public static AppTarget From(string name, DesiredApp entry, long sequence, string hostRid, string hostId)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.DesiredState == AppDesiredState.Absent || entry.Version is not { } version)
        {
            return Absent(name, sequence);
        }
        var artifact = DeployPolicy.ChooseArtifact(entry, hostRid) is var (rid, a) ? new AppArtifact(rid, a.Path, a.Sha256, a.Size) : null;
        return new AppTarget
        {
            Name = name,
            Version = version,
            State = entry.DesiredState,
            Artifact = artifact,
            Settings = new AppSettings
            {
                User = entry.User,
                Env = [.. entry.Env.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new EnvEntry(p.Key, p.Value.Value, p.Value.Age))],
            },
            Admitted = DeployPolicy.IsAdmitted(hostId, name, version, entry.Rollout?.Percent ?? 100),
            Sequence = sequence,
        };
    }

    /// <summary>The first 16 hex digits of SHA-256 over the version, user and environment as published (secrets as their ciphertext).</summary>
    public static string ComputeRevision(string version, AppSettings settings)
    {
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(settings);
        var text = new StringBuilder().Append("v\0").Append(version).Append("\0u\0").Append(settings.User);
        foreach (var e in settings.Env.OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            text.Append("\0e\0").Append(e.Name).Append(e.IsSecret ? "\0age\0" : "\0=\0").Append(e.Age ?? e.Value);
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }
}

/// <summary>A revision that failed: not tried again while the group document asks for it.</summary>
public sealed record BadRevision(string Version, string Revision, string Reason, DateTimeOffset At);

/// <summary>A deploy that failed in a way that may pass later (disk, network, feed): tried again at <see cref="At"/>.</summary>
public sealed record RetryRecord(string Revision, int Count, DateTimeOffset At);

/// <summary>What one step's effect came to.</summary>
public sealed record StepOutcome
{
    public static StepOutcome Done { get; } = new();

    /// <summary>The exit code of the hook (or process) that decided the outcome, when there was one.</summary>
    public int? ExitCode { get; init; }

    /// <summary>The end of the step's output (hooks, health probes), secrets redacted; at most 4 KiB.</summary>
    public string Output { get; init; } = "";

    public TimeSpan Duration { get; init; }

    /// <summary>Why the step failed, in one line; null when it succeeded.</summary>
    public string? Reason { get; init; }

    /// <summary>A failure of precheck or fetch that will not pass by waiting (a secret that does not decrypt, a broken belay-app.conf): the revision is marked bad rather than retried.</summary>
    public bool Permanent { get; init; }

    public static StepOutcome Failed(string reason, int? exitCode = null, string output = "", bool permanent = false) =>
        new() { Reason = reason, ExitCode = exitCode, Output = output, Permanent = permanent };
}

/// <summary>The step that failed a deploy, kept while the previous release is restored.</summary>
public sealed record StepFailure(DeployStep Step, int? ExitCode, string Output, string Reason);

/// <summary>A deploy in progress: what it installs, what it replaces, its plan and where it is.</summary>
public sealed record DeployRecord
{
    public required DeployKind Kind { get; init; }
    public required string Version { get; init; }
    public required string Revision { get; init; }
    public AppSettings Settings { get; init; } = AppSettings.Empty;
    public AppArtifact? Artifact { get; init; }

    /// <summary>Whether the new release runs once deployed (desired state running).</summary>
    public bool Run { get; init; }

    /// <summary>The release installed when the deploy began (the one Restore goes back to), its revision and settings.</summary>
    public string? From { get; init; }
    public string? FromRevision { get; init; }
    public AppSettings? FromSettings { get; init; }

    /// <summary>Whether the installed release was running when the deploy began.</summary>
    public bool FromRunning { get; init; }

    public required IReadOnlyList<DeployStep> Steps { get; init; }
    public required DeployStep Step { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset StepStartedAt { get; init; }

    /// <summary>Set once a step failed and the deploy is restoring <see cref="From"/>.</summary>
    public StepFailure? Failure { get; init; }

    /// <summary>The end of the deploy's output so far (at most 4 KiB, secrets redacted).</summary>
    public string Output { get; init; } = "";

    /// <summary>The group document's sequence that asked for it.</summary>
    public long Sequence { get; init; }
}

/// <summary>How one deploy ended (belay apps history, belay status's lastDeploy).</summary>
public sealed record DeployReport
{
    /// <summary>When it began.</summary>
    public DateTimeOffset At { get; init; }
    public DateTimeOffset FinishedAt { get; init; }
    public string Kind { get; init; } = "";
    public string Version { get; init; } = "";
    public string? From { get; init; }

    /// <summary><c>ok</c>, <c>failed</c> (nothing changed, or no release to go back to), or <c>rolled-back</c> (back on <see cref="From"/>).</summary>
    public string Result { get; init; } = "";

    /// <summary>The step that failed, or <c>commit</c>.</summary>
    public string Step { get; init; } = "";
    public int? ExitCode { get; init; }
    public double DurationSeconds { get; init; }

    /// <summary>The last 4 KiB of the deploy's output (hooks, health probes), secrets redacted.</summary>
    public string Output { get; init; } = "";
    public string? Reason { get; init; }
    public long Sequence { get; init; }
}

/// <summary>
/// An app's journal (state/apps/&lt;app&gt;.json, owner-only): the committed release, the
/// deploy in progress and its step, the bad revisions and the history. Written before every
/// step's effect, so that an agent that restarts knows where it was. Holds no secret: the
/// environment is kept as published (a secret as its age ciphertext).
/// </summary>
public sealed record AppJournal
{
    public const int CurrentSchema = 1;

    /// <summary>How many reports <see cref="History"/> keeps.</summary>
    public const int HistoryLength = 20;

    public int Schema { get; init; } = CurrentSchema;
    public required string Name { get; init; }

    /// <summary>The committed release (its folder is complete), or null when none is installed.</summary>
    public string? Current { get; init; }
    public string? CurrentRevision { get; init; }
    public AppSettings? CurrentSettings { get; init; }

    /// <summary>The release <see cref="Current"/> replaced; kept on disk, never pruned.</summary>
    public string? Previous { get; init; }

    /// <summary>Whether <see cref="Current"/> is meant to run.</summary>
    public bool Running { get; init; }

    /// <summary>The latest thing the group document asked for, verified.</summary>
    public AppTarget? Desired { get; init; }

    public DeployRecord? Deploy { get; init; }
    public IReadOnlyList<BadRevision> Bad { get; init; } = [];
    public RetryRecord? Retry { get; init; }

    /// <summary>The last deploys, oldest first.</summary>
    public IReadOnlyList<DeployReport> History { get; init; } = [];

    public bool IsBad(string revision) => Bad.Any(b => b.Revision == revision);

    /// <summary>converged, deploying, failed, stopped or absent (belay status's apps[].state).</summary>
    public string Describe()
    {
        if (Deploy is not null)
        {
            return "deploying";
        }
        var desired = Desired;
        if (desired is { State: AppDesiredState.Absent } && Current is null)
        {
            return "absent";
        }
        if (desired is { Admitted: true, State: not AppDesiredState.Absent } d
            && (IsBad(d.Revision) || (Retry is { } r && r.Revision == d.Revision)))
        {
            return "failed";
        }
        if (Current is null)
        {
            return desired is null || desired.State == AppDesiredState.Absent ? "absent" : "failed";
        }
        return Running ? "converged" : "stopped";
    }
}
