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

    public string StateFile => Path.Combine(StateDir, "state.json");
    public string Fifo(string name) => Path.Combine(StateDir, name + ".fifo");
    public string ExitRecord(string name) => Path.Combine(StateDir, name + ".exit");
    public string Log(string name) => Path.Combine(LogDir, name + ".log");
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

    public static ProgramsStateFile? TryLoad(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), ProgramsJsonContext.Default.ProgramsStateFile);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
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

    public static ExitRecord? TryLoad(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), ProgramsJsonContext.Default.ExitRecord);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
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

    public static Dictionary<string, string> MaskEnvironment(IEnumerable<KeyValuePair<string, string>> environment) =>
        environment.ToDictionary(e => e.Key, e => LooksSecret(e.Key) ? Mask : e.Value, StringComparer.Ordinal);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(ProgramsStateFile))]
[JsonSerializable(typeof(ExitRecord))]
[JsonSerializable(typeof(List<ProgramStatus>))]
public sealed partial class ProgramsJsonContext : JsonSerializerContext;
