namespace Belay.Core.Programs;

/// <summary>What a supervised program is doing, as `belay status` shows it.</summary>
public enum ProgramState
{
    /// <summary>Started, not yet up for start_timeout.</summary>
    Starting,

    /// <summary>Up for at least start_timeout.</summary>
    Running,

    /// <summary>Exited; waiting for its restart time.</summary>
    Backoff,

    /// <summary>Asked to stop; waiting for it to go (SIGKILL to its group after stop_timeout).</summary>
    Stopping,

    /// <summary>Stopped by the operator (or not autostarted); stays down until `belay start`.</summary>
    Stopped,

    /// <summary>Exited and its restart policy says not to start it again.</summary>
    Exited,

    /// <summary>Crashed fatal_after times within fatal_window; retried on reload or `belay restart`.</summary>
    Fatal,
}

/// <summary>The outcome of an exit: the next state, when to start again, and the failures still inside the window.</summary>
public sealed record ExitDecision(ProgramState State, DateTimeOffset? RestartAt, IReadOnlyList<DateTimeOffset> Failures, string Reason);

/// <summary>
/// The restart rules as a pure function (no clock, no process): the supervisor feeds it an
/// exit and carries out the answer; tests feed it times.
/// - A failure is a non-zero exit, a death by signal, an unknown exit, or any exit before
///   start_timeout (a program that cannot stay up).
/// - Failures are counted in a sliding window of fatal_window; fatal_after of them make the
///   program `fatal` (no more restarts until reload or `belay restart`).
/// - The wait before a restart after a failure doubles with each failure in the window,
///   from backoff_initial up to backoff_max; after a clean exit it is backoff_initial.
/// - A stop the operator asked for always wins: the program is `stopped`, never restarted.
/// </summary>
public static class RestartDecider
{
    public static ExitDecision OnExit(ProgramDefinition program, IReadOnlyList<DateTimeOffset> failures, DateTimeOffset startedAt,
        DateTimeOffset now, bool success, bool stopRequested)
    {
        ArgumentNullException.ThrowIfNull(program);
        ArgumentNullException.ThrowIfNull(failures);
        var recent = failures.Where(f => now - f < program.FatalWindow).ToList();
        if (stopRequested)
        {
            return new ExitDecision(ProgramState.Stopped, null, recent, "stopped on request");
        }
        var uptime = now - startedAt;
        var failed = !success || uptime < program.StartTimeout;
        if (failed)
        {
            recent.Add(now);
        }
        var restart = program.Restart switch
        {
            RestartPolicy.Always => true,
            RestartPolicy.OnFailure => failed,
            _ => false,
        };
        if (!restart)
        {
            return new ExitDecision(ProgramState.Exited, null, recent, $"restart = {Describe(program.Restart)}");
        }
        if (failed && recent.Count >= program.FatalAfter)
        {
            return new ExitDecision(ProgramState.Fatal, null, recent,
                $"{recent.Count} failures within {program.FatalWindow.TotalSeconds:0.###} s (fatal_after = {program.FatalAfter})");
        }
        var delay = failed ? Backoff(program, recent.Count) : program.BackoffInitial;
        return new ExitDecision(ProgramState.Backoff, now + delay, recent, $"restart in {delay.TotalSeconds:0.###} s");
    }

    /// <summary>backoff_initial × 2^(failures − 1), at most backoff_max.</summary>
    public static TimeSpan Backoff(ProgramDefinition program, int failuresInWindow)
    {
        ArgumentNullException.ThrowIfNull(program);
        var exponent = Math.Clamp(failuresInWindow - 1, 0, 30);
        var ticks = Math.Min(program.BackoffInitial.Ticks * (double)(1L << exponent), program.BackoffMax.Ticks);
        return TimeSpan.FromTicks((long)ticks);
    }

    public static string Describe(RestartPolicy policy) => policy switch
    {
        RestartPolicy.Always => "always",
        RestartPolicy.OnFailure => "on-failure",
        _ => "never",
    };

    public static string Describe(ProgramState state) => state switch
    {
        ProgramState.Starting => "starting",
        ProgramState.Running => "running",
        ProgramState.Backoff => "backoff",
        ProgramState.Stopping => "stopping",
        ProgramState.Stopped => "stopped",
        ProgramState.Exited => "exited",
        _ => "fatal",
    };

    public static ProgramState ParseState(string? text) => text switch
    {
        "starting" => ProgramState.Starting,
        "running" => ProgramState.Running,
        "backoff" => ProgramState.Backoff,
        "stopping" => ProgramState.Stopping,
        "stopped" => ProgramState.Stopped,
        "fatal" => ProgramState.Fatal,
        _ => ProgramState.Exited,
    };
}
