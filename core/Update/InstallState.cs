using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Core.IO;
using Belay.Core.Versioning;

namespace Belay.Core.Update;

/// <summary>
/// The keeper's persisted state (state.json): which agent version is committed, which one
/// it replaced, the trial in progress and the versions that failed. The keeper is its only
/// writer, so that two processes never race to replace it; everything else reads it.
/// <see cref="KeeperMachine"/> treats an instance as a value: it never changes one it was
/// given, it returns a new one.
/// </summary>
public sealed class InstallState
{
    public const int CurrentSchema = 1;

    public int Schema { get; set; } = CurrentSchema;

    /// <summary>The committed version: installed, verified, and the one the keeper starts
    /// when no trial is pending. Never a version in <see cref="Bad"/>.</summary>
    public string Current { get; set; } = "";

    /// <summary>The committed version <see cref="Current"/> replaced; what an operator's
    /// rollback returns to. Null after a rollback, so a second one has nowhere to go.</summary>
    public string? Previous { get; set; }

    /// <summary>The version on trial, or null.</summary>
    public TrialState? Trial { get; set; }

    /// <summary>Versions that failed a trial or were rolled back by an operator: never tried again.</summary>
    public List<string> Bad { get; set; } = [];

    /// <summary>When <see cref="Current"/> last became current (a commit or an operator's rollback).</summary>
    public DateTimeOffset? CommittedAt { get; set; }

    /// <summary>The state an install writes: <paramref name="version"/> committed, nothing else.</summary>
    public static InstallState ForInstall(string version, DateTimeOffset installedAt) =>
        new() { Current = version, CommittedAt = installedAt };

    /// <summary>A deep copy.</summary>
    public InstallState Clone() => new()
    {
        Schema = Schema,
        Current = Current,
        Previous = Previous,
        Trial = Trial?.Clone(),
        Bad = [.. Bad],
        CommittedAt = CommittedAt,
    };

    public bool IsBad(string version) => Bad.Contains(version, StringComparer.Ordinal);
}

/// <summary>A version on trial: started by the keeper, not yet ready.</summary>
public sealed class TrialState
{
    public string Version { get; set; } = "";

    /// <summary>The committed version the trial started from.</summary>
    public string From { get; set; } = "";

    /// <summary>Tries used, counting the one running: a try is counted (and persisted)
    /// before the version is started, so a crash in the middle still uses it up.</summary>
    public int Tries { get; set; }

    /// <summary>The limit recorded when the trial began; it wins over a later policy change.</summary>
    public int MaxTries { get; set; }

    /// <summary>When the trial began (its first try).</summary>
    public DateTimeOffset StartedAt { get; set; }

    public TrialState Clone() => new()
    {
        Version = Version,
        From = From,
        Tries = Tries,
        MaxTries = MaxTries,
        StartedAt = StartedAt,
    };
}

/// <summary>
/// Reads and writes state.json. A file that does not parse, or parses into something
/// incomplete, is an error with the path, the field and the reason: the keeper never runs on
/// half a state. The remedy it names is <c>belay doctor --repair</c> (or <c>belay install</c>),
/// which rebuild it (<see cref="InstallStateRepair"/>). Writes replace the file atomically
/// (<see cref="AtomicFile"/>), mode 0644: the state holds no secret, and <c>belay status</c>
/// run by anyone may read it.
/// </summary>
public static class InstallStateStore
{
    /// <summary>What each field of state.json may hold.</summary>
    public static readonly IReadOnlyDictionary<string, string> Fields = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["schema"] = $"{InstallState.CurrentSchema}",
        ["current"] = "the committed version, like 1.2.3",
        ["previous"] = "a version like 1.2.3, or null",
        ["trial"] = "an object with version, from, tries, maxTries and startedAt, or null",
        ["trial.version"] = "a version like 1.2.3",
        ["trial.from"] = "a version like 1.2.3",
        ["trial.tries"] = "a whole number from 0 to maxTries",
        ["trial.maxTries"] = "a whole number, 1 or more",
        ["trial.startedAt"] = "a date and time like 2026-01-31T12:00:00Z",
        ["bad"] = "a list of versions (empty when no version failed)",
        ["bad[]"] = "a version like 1.2.3",
        ["committedAt"] = "a date and time like 2026-01-31T12:00:00Z, or null",
    };

    /// <summary>What a message about a damaged state.json tells the operator to do; both commands work on it.</summary>
    public const string Remedy =
        "the keeper will not guess. Repair it with belay doctor --repair (it rebuilds the state from the installed versions and keeps the damaged file beside it), or run belay install again";

    public static InstallState Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var bytes = JsonFile.ReadBytes(path, Remedy)
            ?? throw new BelayException($"the state file {path} does not exist; is belay installed? (belay install)");
        return Parse(bytes, path);
    }

    public static void Save(string path, InstallState state)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        AtomicFile.WriteAllBytes(path, Serialize(state), AtomicFile.PublicRead);
    }

    /// <summary>Carries out the keeper's <see cref="PersistState"/>: the write, then its crash point.</summary>
    public static void Persist(string path, PersistState persist)
    {
        ArgumentNullException.ThrowIfNull(persist);
        Save(path, persist.State);
        Durability.Reach(persist.CrashPoint);
    }

    /// <summary>The file's bytes: indented camelCase JSON and a final newline. Refuses a state
    /// that <see cref="Parse"/> would reject, so an invalid state is never written.</summary>
    public static byte[] Serialize(InstallState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (Validate(state) is { } problem)
        {
            throw new ArgumentException($"refusing to write an invalid state: {problem.Field}: {problem.Problem}", nameof(state));
        }
        return [.. JsonSerializer.SerializeToUtf8Bytes(state, InstallStateJsonContext.Default.InstallState), (byte)'\n'];
    }

    /// <param name="source">Names the file in error messages.</param>
    /// <exception cref="JsonFileException">The bytes are not a valid state: the file, the field, what is allowed.</exception>
    public static InstallState Parse(ReadOnlySpan<byte> json, string source)
    {
        var state = JsonFile.Parse(json, source, InstallStateJsonContext.Default.InstallState, Fields, Remedy);
        if (Validate(state) is { } problem)
        {
            throw new JsonFileException(source, problem.Field, problem.Problem, Remedy);
        }
        return state;
    }

    /// <summary>Which field of <paramref name="state"/> makes it unusable and why, or null if it is usable.</summary>
    public static (string Field, string Problem)? Validate(InstallState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Schema != InstallState.CurrentSchema)
        {
            return ("schema", state.Schema > InstallState.CurrentSchema
                ? $"schema {state.Schema} was written by a newer belay; this one reads schema {InstallState.CurrentSchema}"
                : $"{state.Schema} is not a known schema; expected {InstallState.CurrentSchema}");
        }
        if (Version("current", state.Current, nullable: false) is { } current)
        {
            return current;
        }
        if (Version("previous", state.Previous, nullable: true) is { } previous)
        {
            return previous;
        }
        if (state.Bad is null)
        {
            return ("bad", $"null is not allowed; expected {Fields["bad"]}");
        }
        for (var i = 0; i < state.Bad.Count; i++)
        {
            if (Version($"bad[{i}]", state.Bad[i], nullable: false) is { } bad)
            {
                return bad;
            }
        }
        if (state.Trial is { } trial)
        {
            if (Version("trial.version", trial.Version, nullable: false) is { } version)
            {
                return version;
            }
            if (Version("trial.from", trial.From, nullable: false) is { } from)
            {
                return from;
            }
            if (trial.MaxTries < 1)
            {
                return ("trial.maxTries", $"{trial.MaxTries} is not allowed; expected {Fields["trial.maxTries"]}");
            }
            if (trial.Tries < 0 || trial.Tries > trial.MaxTries)
            {
                return ("trial.tries", $"{trial.Tries} is not allowed; expected a whole number from 0 to maxTries ({trial.MaxTries})");
            }
        }
        return null;
    }

    private static (string, string)? Version(string field, string? value, bool nullable)
    {
        if (value is null)
        {
            return nullable ? null : (field, $"null is not allowed; expected {JsonFile.Allowed(Fields, field)}");
        }
        return SemVersion.TryParse(value, out _, out _) ? null : (field, $"'{value}' is not a version; expected {JsonFile.Allowed(Fields, field)}");
    }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    RespectNullableAnnotations = true,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    AllowTrailingCommas = false)]
[JsonSerializable(typeof(InstallState))]
internal sealed partial class InstallStateJsonContext : JsonSerializerContext;
