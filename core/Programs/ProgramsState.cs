using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Core.Install;
using Belay.Core.IO;

namespace Belay.Core.Programs;

/// <summary>
/// Where supervision keeps its files, derived from the installation's layout:
/// programs.conf next to config.json; state/programs/ (0700) for the state file, a FIFO per
/// program for stdout (NAME.fifo) and one for stderr (NAME.err.fifo, unless redirect_stderr),
/// and the exit records the keeper writes; logs/programs/NAME.log and NAME.err.log; and the
/// agent's control socket state/agent.sock.
/// </summary>
public sealed record ProgramPaths(string ConfigFile, string StateDir, string LogDir, string AgentSocket)
{
    public static ProgramPaths For(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return new(Path.Combine(layout.ConfigDir, "programs.conf"), Path.Combine(layout.StateDir, "programs"),
            Path.Combine(layout.LogDir, "programs"), Path.Combine(layout.StateDir, "agent.sock"));
    }

    /// <summary>Where deployed apps' logs go (logs/apps/): the supervisor's unit "@APP" logs to APP.log there.</summary>
    public string AppLogDir { get; init; } = Path.Combine(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(LogDir)) ?? LogDir, "apps");

    public string StateFile => Path.Combine(StateDir, "state.json");
    public string Fifo(string name) => Path.Combine(StateDir, name + ".fifo");
    public string ExitRecord(string name) => Path.Combine(StateDir, name + ".exit");
    public string Log(string name) => Belay.Core.Deploy.AppPaths.IsUnit(name) ? Path.Combine(AppLogDir, name[1..] + ".log") : Path.Combine(LogDir, name + ".log");
    public string ErrFifo(string name) => Fifo(name + ProgramsConfig.StderrSuffix);
    public string ErrLog(string name) => Log(name + ProgramsConfig.StderrSuffix);
}

/// <summary>
/// state/programs/state.json, written by the agent (atomically) whenever a program starts,
/// exits or changes state, read by the next agent (to adopt the programs still running),
/// by the keeper (which pids to reap) and by `belay status` when the agent is not running.
/// A pid is trusted only with its start time (/proc/PID/stat), which defeats pid reuse.
/// </summary>
public sealed class ProgramsStateFile
{
    public int AgentPid { get; set; }
    public List<ProgramRecord> Programs { get; set; } = [];

    /// <summary>What each field of a program's record may hold.</summary>
    public static readonly IReadOnlyDictionary<string, string> RecordFields = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["name"] = "a program name from programs.conf, or @APP for a deployed app",
        ["state"] = "starting, running, backoff, stopping, stopped, exited or fatal",
        ["pid"] = "a process id (a whole number, 0 when not running)",
        ["startTime"] = "a start time in clock ticks (a whole number)",
        ["startedAt"] = "a date and time, or null",
        ["hash"] = "the definition's hash (a string)",
        ["separateStderr"] = "true or false",
        ["restarts"] = "a whole number, 0 or more",
        ["lastExit"] = "a description of the last exit (a string), or null",
        ["failures"] = "a list of dates and times",
        ["failures[]"] = "a date and time like 2026-01-31T12:00:00Z",
        ["resumeWithService"] = "true or false",
    };

    /// <summary>What a damaged record means: its program is not adopted.</summary>
    public const string Remedy =
        "that program is started afresh and one still running from before is not adopted (stop it by hand); belay doctor --repair drops the damaged records";

    public static ProgramsStateFile? TryLoad(string path) => TryLoad(path, out _);

    /// <summary>
    /// The state file, keeping every record that is valid: a record with a damaged field is left out and
    /// said in <paramref name="problems"/> ("FILE: field programs[2].pid: …"), so one bad record does not
    /// cost the others their adoption. Null when the file does not exist, or cannot be read as a whole.
    /// </summary>
    public static ProgramsStateFile? TryLoad(string path, out IReadOnlyList<string> problems)
    {
        var found = new List<string>();
        problems = found;
        byte[]? bytes;
        try
        {
            bytes = JsonFile.ReadBytes(path, Remedy);
        }
        catch (JsonFileException e)
        {
            found.Add(e.Message);
            return null;
        }
        if (bytes is null)
        {
            return null;
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            var (_, problem) = JsonFile.Describe(bytes, e, RecordFields);
            found.Add($"{path}: {problem}; every program is started afresh and none still running from before is adopted (stop them by hand); belay doctor --repair removes the file");
            return null;
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                found.Add($"{path}: it holds {JsonFile.Kind(root)} instead of a JSON object; every program is started afresh (stop any still running from before by hand); belay doctor --repair removes the file");
                return null;
            }
            var state = new ProgramsStateFile();
            if (root.TryGetProperty("agentPid", out var agentPid) && agentPid.ValueKind == JsonValueKind.Number && agentPid.TryGetInt32(out var pid))
            {
                state.AgentPid = pid;
            }
            if (!root.TryGetProperty("programs", out var programs))
            {
                return state;
            }
            if (programs.ValueKind != JsonValueKind.Array)
            {
                found.Add($"{path}: field programs: {(programs.ValueKind == JsonValueKind.Null ? "null is not allowed" : $"{JsonFile.Kind(programs)} is not allowed")}; expected a list of program records; {Remedy}");
                return state;
            }
            var i = 0;
            foreach (var element in programs.EnumerateArray())
            {
                var field = $"programs[{i++}]";
                try
                {
                    var record = JsonFile.Parse(Encoding.UTF8.GetBytes(element.GetRawText()), path, ProgramsJsonContext.Default.ProgramRecord, RecordFields, Remedy, field);
                    record.Check(path, field);
                    state.Programs.Add(record);
                }
                catch (JsonFileException e)
                {
                    found.Add(e.Message);
                }
            }
            return state;
        }
    }

    public void Save(string path) =>
        AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(this, ProgramsJsonContext.Default.ProgramsStateFile), AtomicFile.OwnerOnly);
}

public sealed class ProgramRecord
{
    public string Name { get; set; } = "";
    public string State { get; set; } = "";
    public int Pid { get; set; }
    public long StartTime { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public string Hash { get; set; } = "";

    /// <summary>
    /// Whether the running process was started with its own stderr pipe (NAME.err.fifo), so that the
    /// next agent reads the pipes it actually writes to. Missing (false) in records of agents before
    /// separate stderr, whose programs all wrote both streams into NAME.fifo.
    /// </summary>
    public bool SeparateStderr { get; set; }
    public int Restarts { get; set; }
    public string? LastExit { get; set; }
    public List<DateTimeOffset> Failures { get; set; } = [];

    /// <summary>Throws a <see cref="JsonFileException"/> for a field no agent writes.</summary>
    internal void Check(string file, string field)
    {
        void Fail(string name, string problem) =>
            throw new JsonFileException(file, $"{field}.{name}", $"{problem}; expected {ProgramsStateFile.RecordFields[name]}", ProgramsStateFile.Remedy);
        // A deployed app runs as the unit "@APP" beside the programs (AppPaths.Unit).
        if (!ProgramsConfig.IsValidName(Name) && !(Deploy.AppPaths.IsUnit(Name) && Deploy.AppPaths.IsValidAppName(Name[1..])))
        {
            Fail("name", $"'{Name}' is not a program name");
        }
        if (State is not ("starting" or "running" or "backoff" or "stopping" or "stopped" or "exited" or "fatal"))
        {
            Fail("state", $"'{State}' is not a state");
        }
        if (Pid < 0 || Pid == 1)
        {
            Fail("pid", $"{Pid} is not allowed");
        }
        if (Restarts < 0)
        {
            Fail("restarts", $"{Restarts} is negative");
        }
    }

    /// <summary>
    /// Stopped because the service stopped (SIGTERM to the keeper: a service manager's stop, a reboot, an
    /// uninstall), not by the operator: the next agent to start starts it again. Set when the stop of the
    /// service begins, before any stop signal, so it holds even if that agent is killed in the middle.
    /// </summary>
    public bool ResumeWithService { get; set; }
}

/// <summary>state/programs/NAME.exit: the keeper reaped an orphaned program (Linux, as child subreaper).</summary>
public sealed class ExitRecord
{
    public int Pid { get; set; }

    /// <summary>The raw wait status.</summary>
    public int Status { get; set; }
    public DateTimeOffset At { get; set; }

    private static readonly IReadOnlyDictionary<string, string> Fields = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["pid"] = "a process id (a whole number)",
        ["status"] = "a wait status (a whole number)",
        ["at"] = "a date and time",
    };

    /// <summary>The record, or null when there is none or it is not valid (then the exit counts as unknown).</summary>
    public static ExitRecord? TryLoad(string path)
    {
        try
        {
            return JsonFile.ReadBytes(path, "the exit counts as unknown") is { } bytes
                && JsonFile.Parse(bytes, path, ProgramsJsonContext.Default.ExitRecord, Fields, "the exit counts as unknown") is { Pid: > 1 } record
                ? record
                : null;
        }
        catch (JsonFileException)
        {
            return null;
        }
    }

    public void Save(string path) =>
        AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(this, ProgramsJsonContext.Default.ExitRecord), AtomicFile.OwnerOnly);
}

/// <summary>One program as `belay status` shows it (the agent's STATUS reply is a list of these).</summary>
public sealed class ProgramStatus
{
    public string Name { get; set; } = "";
    public string State { get; set; } = "";
    public int? Pid { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public double? UptimeSeconds { get; set; }
    public int Restarts { get; set; }
    public string? LastExit { get; set; }
    public List<string> Command { get; set; } = [];

    /// <summary>The configured environment; values of secret-looking keys are "***".</summary>
    public Dictionary<string, string> Environment { get; set; } = [];
    public string? User { get; set; }
    public string? Detail { get; set; }
}

/// <summary>Masks secrets before anything is shown or logged.</summary>
public static class Secrets
{
    public const string Mask = "***";

    private static readonly string[] Words = ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "AUTH"];

    /// <summary>True for names like API_TOKEN, DB_PASSWORD, AWS_SECRET_ACCESS_KEY.</summary>
    public static bool LooksSecret(string name) =>
        Words.Any(w => name.Contains(w, StringComparison.OrdinalIgnoreCase));

    public static Dictionary<string, string> MaskEnvironment(IEnumerable<KeyValuePair<string, string>> environment, IReadOnlySet<string>? secretKeys = null) =>
        environment.ToDictionary(e => e.Key, e => LooksSecret(e.Key) || secretKeys?.Contains(e.Key) == true ? Mask : e.Value, StringComparer.Ordinal);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(ProgramsStateFile))]
[JsonSerializable(typeof(ProgramRecord))]
[JsonSerializable(typeof(ExitRecord))]
[JsonSerializable(typeof(List<ProgramStatus>))]
public sealed partial class ProgramsJsonContext : JsonSerializerContext;
