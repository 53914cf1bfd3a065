using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Core.Deploy;
using Belay.Core.Hosting;
using Belay.Core.Install;
using Belay.Core.Programs;
using Belay.Core.Update;

namespace Belay.Agent.Hub;

/// <summary>
/// The <c>state</c> the agent sends its hub: the keys of <c>belay status --json</c> that the agent
/// itself knows (DESIGN.md keeps them stable: version, previous, trial, bad, channel, feed,
/// lastCheck, keeper, agent, host, serviceManager, programs, group, apps), each of the same type
/// as there. The hub stores it as it comes and shows what it recognizes (deploy history from
/// apps[].lastDeploy). Secrets never get here: program environments are masked as in
/// <c>belay status</c>, an app's report holds no environment and its deploy output is redacted
/// before it is journaled, the host's token and credential are not part of it.
/// </summary>
internal sealed class HubState
{
    public string? Version { get; set; }
    public string Current { get; set; } = "";
    public string? Previous { get; set; }
    public string? Trial { get; set; }
    public List<string> Bad { get; set; } = [];
    public string Channel { get; set; } = "";
    public string Feed { get; set; } = "";
    public long Sequence { get; set; }
    public DateTimeOffset? ManifestExpires { get; set; }
    public LastCheck? LastCheck { get; set; }
    public KeeperReport? Keeper { get; set; }
    public AgentReport Agent { get; set; } = new();
    public HostReport Host { get; set; } = new();
    public string ServiceManager { get; set; } = "";
    public string Scope { get; set; } = "";
    public List<ProgramStatus> Programs { get; set; } = [];

    /// <summary>The group whose apps this host runs.</summary>
    public string Group { get; set; } = "";

    /// <summary>The last poll of the group document.</summary>
    public GroupCheck? GroupCheck { get; set; }

    /// <summary>Deployed apps: name, desired, running, state, step, bad, lastDeploy (DESIGN.md), and more.</summary>
    public List<AppStatus> Apps { get; set; } = [];
}

/// <summary>What the polling loop last knew, handed over as one immutable value (no shared mutable state with the hub task).</summary>
internal sealed record PollSnapshot(bool Ready, LastCheck? LastCheck, long Sequence, DateTimeOffset? ManifestExpires);

/// <summary>Builds the state from what the agent holds: the keeper's state.json, the last poll, the supervisor.</summary>
internal sealed class HubStateBuilder
{
    private readonly InstallConfig _config;
    private readonly string _version;
    private readonly Func<int?> _keeperPid;
    private readonly Func<PollSnapshot> _poll;
    private readonly Func<Task<List<ProgramStatus>>> _programs;
    private readonly HostFacts _facts;
    private readonly Func<Task<AppsReport?>> _apps;

    /// <param name="keeperPid">The keeper's pid (the parent on Unix; what the keeper said on Windows), or null when unknown.</param>
    /// <param name="apps">The deploy runner's report, or null while there is none (the state then names the configured group and no app).</param>
    public HubStateBuilder(InstallConfig config, string version, HostFacts facts, Func<int?> keeperPid, Func<PollSnapshot> poll, Func<Task<List<ProgramStatus>>> programs,
        Func<Task<AppsReport?>> apps)
    {
        _apps = apps;
        _config = config;
        _version = version;
        _facts = facts;
        _keeperPid = keeperPid;
        _poll = poll;
        _programs = programs;
    }

    public async Task<byte[]> BuildAsync()
    {
        var state = InstallStateStore.Load(_config.Layout.StateFile);
        var poll = _poll();
        var report = new HubState
        {
            Version = _version,
            Current = state.Current,
            Previous = state.Previous,
            Trial = state.Trial?.Version,
            Bad = state.Bad,
            Channel = _config.Channel,
            Feed = _config.Feeds.FirstOrDefault() ?? "",
            Sequence = poll.Sequence,
            ManifestExpires = poll.ManifestExpires,
            LastCheck = poll.LastCheck,
            Keeper = _keeperPid() is { } keeperPid ? new KeeperReport { Pid = keeperPid } : null,
            Agent = new AgentReport { Pid = Environment.ProcessId, Ready = poll.Ready },
            Host = HostReport.From(_facts),
            ServiceManager = _config.ServiceManager,
            Scope = _config.Scope,
            Programs = await _programs().ConfigureAwait(false),
            Group = _config.Group,
        };
        if (await _apps().ConfigureAwait(false) is { } apps)
        {
            report.Group = apps.Group;
            report.GroupCheck = apps.GroupCheck;
            report.Apps = apps.Apps;
        }
        foreach (var program in report.Programs)
        {
            // Uptime changes every second; the hub computes it from startedAt, so it is not a change worth sending.
            program.UptimeSeconds = null;
        }
        return JsonSerializer.SerializeToUtf8Bytes(report, HubStateJsonContext.Default.HubState);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(HubState))]
internal sealed partial class HubStateJsonContext : JsonSerializerContext;
