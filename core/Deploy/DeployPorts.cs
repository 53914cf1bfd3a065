using Belay.Core.Programs;

namespace Belay.Core.Deploy;

// The small ports the deploy runner works through; the agent wires the real ones
// (agent/Deploy), tests pass fakes.

/// <summary>What the supervisor reports about an app's process: its state as `belay status` shows a program, and the identity of what runs.</summary>
public sealed record AppProcessInfo(ProgramStatus Status, string Identity);

/// <summary>The app's supervised process: the agent's supervisor, which runs apps exactly as programs.</summary>
public interface IAppProcess
{
    /// <summary>Run <paramref name="definition"/> (leave a process that already runs it alone), or stop the app and keep it stopped; completes once started or stopped.</summary>
    Task ApplyAsync(ProgramDefinition definition, bool run);

    /// <summary>Stop the app if it runs and stop supervising it.</summary>
    Task RemoveAsync(string app);

    /// <summary>The app's process, or null when it is not supervised.</summary>
    Task<AppProcessInfo?> StatusAsync(string app);
}

/// <summary>One hook (or health command) to run: in its own process group, as its user, with a timeout.</summary>
public sealed record HookRun
{
    public required string App { get; init; }

    /// <summary>BELAY_STEP: pre_install, …, or health.</summary>
    public required string Step { get; init; }
    public required IReadOnlyList<string> Command { get; init; }
    public required string Directory { get; init; }
    public string? User { get; init; }
    public string? Group { get; init; }
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
    public TimeSpan Timeout { get; init; } = AppConfig.DefaultHookTimeout;

    /// <summary>Values that must never be written anywhere (decrypted secrets): replaced by *** in what is logged and kept.</summary>
    public IReadOnlyList<string> Redact { get; init; } = [];

    /// <summary>False for a health probe: its output is kept, not written line by line to the deploy log.</summary>
    public bool Log { get; init; } = true;
}

/// <summary>How a hook ended.</summary>
/// <param name="ExitCode">Its exit code (128 + N for a death by signal N); null when it could not start.</param>
/// <param name="TimedOut">It ran past its timeout and its process group was killed.</param>
/// <param name="Output">The last 4 KiB of what it wrote (stdout and stderr together), secrets redacted.</param>
/// <param name="Error">Why it could not start, or null.</param>
public sealed record HookResult(int? ExitCode, bool TimedOut, string Output, TimeSpan Duration, string? Error = null)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;
}

/// <summary>Runs hooks: the agent's exec helper in a new session, output into the app's deploy log.</summary>
public interface IHookRunner
{
    /// <param name="started">Called with the hook's pid (its process group) and start time once it runs.</param>
    /// <exception cref="OperationCanceledException">The agent is stopping: the hook's group was killed.</exception>
    Task<HookResult> RunAsync(HookRun run, Action<int, long>? started, CancellationToken cancellationToken);
}

/// <summary>Downloads and verifies an app's archive (AppArtifactFetcher over the group's feed).</summary>
public interface IArtifactSource
{
    /// <summary>The verified archive, in <paramref name="folder"/>, named with its archive extension; the caller deletes it.</summary>
    /// <exception cref="BelayException">Unreachable, trust failure, no archive for this host, or not enough disk.</exception>
    Task<string> FetchAsync(string app, string version, AppArtifact artifact, string folder, CancellationToken cancellationToken);
}

/// <summary>Turns an app's published environment into values: plain ones as they are, secrets decrypted with the group identity.</summary>
public interface ISecretResolver
{
    /// <exception cref="SecretException">A secret that does not decrypt (names the app and the variable, never a value).</exception>
    IReadOnlyDictionary<string, string> Resolve(string app, AppSettings settings);
}

/// <summary>Where the runner writes what it does: the agent's log, and each app's deploy log.</summary>
public interface IDeployLog
{
    /// <summary>A line of the runner's own (a step, a decision): to the agent's log and the app's deploy log.</summary>
    void Write(string app, string message, bool warning);

    /// <summary>Output of a hook, secrets already redacted: to the app's deploy log only.</summary>
    void Output(string app, string text);
}
