using Belay.Core.Install;

namespace Belay.Core.Services;

/// <summary>When the service manager restarts the keeper.</summary>
public enum RestartPolicy
{
    /// <summary>Whenever it stops, whatever the exit status (the keeper should never stop by itself).</summary>
    Always,

    /// <summary>Only after a failure (non-zero exit, signal, watchdog).</summary>
    OnFailure,

    /// <summary>Never.</summary>
    Never,
}

/// <summary>
/// The one model every backend renders its definition from (a systemd unit, a launchd
/// plist, an SMF manifest, a Windows service registration): what to run, as whom, where,
/// with what environment and restart policy, and where its output goes.
/// </summary>
public sealed record ServiceDefinition
{
    /// <summary>The name the service manager knows it by: belay (systemd unit belay.service), com.belay.agent (launchd), application/belay/agent (SMF), Belay (Windows).</summary>
    public string Name { get; init; } = "belay";
    public string Description { get; init; } = "Belay keeper: runs, updates and rolls back the Belay agent";

    /// <summary>The keeper's command line, executable first (absolute paths).</summary>
    public IReadOnlyList<string> CommandLine { get; init; } = [];

    /// <summary>The user to run as; null for the manager's default (root for system scope, the user for user scope).</summary>
    public string? User { get; init; }
    public string WorkingDirectory { get; init; } = "/";
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
    public RestartPolicy Restart { get; init; } = RestartPolicy.Always;

    /// <summary>Seconds between restarts.</summary>
    public int RestartDelaySeconds { get; init; } = 5;

    /// <summary>How long the keeper has to stop (it stops the agent first).</summary>
    public int StopTimeoutSeconds { get; init; } = 30;
    public string StdoutLog { get; init; } = "";
    public string StderrLog { get; init; } = "";
    public InstallScope Scope { get; init; } = InstallScope.System;

    /// <summary>The definition for an installation: `belay run --config CONFIG` with its logs.</summary>
    public static ServiceDefinition For(InstallLayout layout, InstallScope scope)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return new ServiceDefinition
        {
            CommandLine = [layout.BelayExe, "run", "--config", layout.ConfigFile],
            WorkingDirectory = layout.StateDir,
            StdoutLog = layout.KeeperLog,
            StderrLog = layout.KeeperLog,
            Scope = scope,
        };
    }
}
