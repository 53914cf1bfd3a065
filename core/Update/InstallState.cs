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
/// incomplete, is an error with the path and the reason: the keeper never runs on half a
/// state. Writes replace the file atomically (<see cref="AtomicFile"/>), mode 0644: the
/// state holds no secret, and <c>belay status</c> run by anyone may read it.
/// </summary>
public static class InstallStateStore
{
    public static InstallState Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BelayException($"the state file {path} does not exist; is belay installed? (belay install)", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException($"could not read the state file {path}: {SystemErrors.Describe(e)}", e);
        }
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
            throw new ArgumentException($"refusing to write an invalid state: {problem}", nameof(state));
        }
        return [.. JsonSerializer.SerializeToUtf8Bytes(state, InstallStateJsonContext.Default.InstallState), (byte)'\n'];
    }

    /// <param name="source">Names the file in error messages.</param>
    public static InstallState Parse(ReadOnlySpan<byte> json, string source)
    {
        InstallState? state;
        try
        {
            state = JsonSerializer.Deserialize(json, InstallStateJsonContext.Default.InstallState);
        }
        catch (JsonException e)
        {
            throw Corrupt(source, SystemErrors.Describe(e), e);
        }
        if (state is null)
        {
            throw Corrupt(source, "it holds null instead of a state object");
        }
        if (Validate(state) is { } problem)
        {
            throw Corrupt(source, problem);
        }
        return state;
    }

    /// <summary>Why <paramref name="state"/> is not a usable state, or null if it is.</summary>
    public static string? Validate(InstallState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Schema != InstallState.CurrentSchema)
        {
            return state.Schema > InstallState.CurrentSchema
                ? $"schema {state.Schema} was written by a newer belay; this one reads schema {InstallState.CurrentSchema}"
                : $"schema {state.Schema} is not a known schema";
        }
        if (!SemVersion.TryParse(state.Current, out _, out var error))
        {
            return $"current: {error}";
        }
        if (state.Previous is not null && !SemVersion.TryParse(state.Previous, out _, out error))
        {
            return $"previous: {error}";
        }
        if (state.Bad is null)
        {
            return "bad must be a list (empty when no version failed)";
        }
        foreach (var bad in state.Bad)
        {
            if (!SemVersion.TryParse(bad, out _, out error))
            {
                return $"bad: {error}";
            }
        }
        if (state.Trial is { } trial)
        {
            if (!SemVersion.TryParse(trial.Version, out _, out error))
            {
                return $"trial.version: {error}";
            }
            if (!SemVersion.TryParse(trial.From, out _, out error))
            {
                return $"trial.from: {error}";
            }
            if (trial.MaxTries < 1)
            {
                return $"trial.maxTries is {trial.MaxTries}; it must be at least 1";
            }
            if (trial.Tries < 0 || trial.Tries > trial.MaxTries)
            {
                return $"trial.tries is {trial.Tries}; it must be between 0 and maxTries ({trial.MaxTries})";
            }
        }
        return null;
    }

    private static BelayException Corrupt(string source, string reason, Exception? inner = null) =>
        new(ExitCodes.Error,
            $"the state file {source} is not a valid belay state ({reason}); the keeper will not guess. " +
            "Restore it from a backup, or reinstall with belay install",
            inner);
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
