using System.CommandLine;
using System.Text.Json.Serialization;
using System.Text.Json;
using Belay.Bootstrapper.Install;
using Belay.Core;
using Belay.Core.Hosting;
using Belay.Core.Install;
using Belay.Core.Services;
using Belay.Core.Update;
using Belay.Keeper;

namespace Belay.Bootstrapper.Commands;

/// <summary>
/// `belay status [--json]`. The JSON keys are an interface for automation (DESIGN.md):
/// version, previous, trial, bad, channel, feed, lastCheck, keeper, agent, host,
/// serviceManager, service, programs, group, apps; more may be added, none renamed. Exit 0
/// while the keeper and an agent run, 1 when either is down (or nothing is installed), 5 when
/// the installation is not readable by this user.
/// </summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var installation = new Installation();
        var json = new Option<bool>("--json") { Description = "Print JSON (stable keys, for automation)." };
        var command = new Command("status", "Show the installed and running versions, the last feed check, the keeper and agent, and host facts.") { json };
        installation.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            var (config, path) = installation.Locate(result);
            var report = await BuildAsync(config, path, cancel).ConfigureAwait(false);
            if (result.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(report, StatusJsonContext.Default.StatusReport));
            }
            else
            {
                Print(report);
            }
            // For scripts and monitoring: 0 only while the keeper and an agent run (ready or
            // starting); the report is printed either way, and what is down is said on stderr.
            if (IsUp(report))
            {
                return ExitCodes.Ok;
            }
            Console.Error.WriteLine(report.Keeper is null
                ? $"belay: the keeper is not running; start it with: belay service start{Args(result, installation)}"
                : $"belay: the keeper runs but no agent does (it restarts the agent with a backoff); see belay logs keeper{Args(result, installation)}");
            return ExitCodes.Error;
        });
        return command;
    }

    public static async Task<StatusReport> BuildAsync(InstallConfig config, string configPath, CancellationToken cancellationToken)
    {
        var layout = config.Layout;
        var state = InstallStateStore.Load(layout.StateFile);
        var problems = new List<string>();
        // The agent's own view first: agent.json lags behind it when the disk is full.
        var agent = await LiveAgentStatusAsync(layout, cancellationToken).ConfigureAwait(false);
        if (agent is null)
        {
            agent = AgentStatus.TryLoad(layout.AgentStatusFile, out var agentProblem);
            if (agentProblem is not null)
            {
                problems.Add(agentProblem);
            }
        }
        KeeperStatus? keeper = null;
        // On Windows there is no keeper pid to probe (the SCM runs it): its named pipe answering is the sign.
        if (Installer.KeeperIsRunning(layout) || (OperatingSystem.IsWindows() && KeeperChannel.Exists(layout.KeeperSocket)))
        {
            try
            {
                var reply = await KeeperChannel.SendAsync(layout.KeeperSocket, "STATUS", TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                keeper = JsonSerializer.Deserialize(reply, KeeperJsonContext.Default.KeeperStatus);
            }
            catch (Exception e) when (e is BelayException or JsonException)
            {
                keeper = new KeeperStatus { Pid = Installer.ReadPid(layout.KeeperPidFile) ?? 0 };
            }
        }
        var hostId = HostId.TryLoad(layout.HostIdFile, out var hostProblem);
        if (hostProblem is not null)
        {
            problems.Add(hostProblem);
        }
        var facts = HostFacts.Read(hostId ?? "");
        ServiceReport service;
        try
        {
            var scope = Installation.ParseScope(config.Scope);
            var status = ServiceBackends.Create(config.ServiceManager, layout, _ => { }).Status(ServiceDefinition.For(layout, scope));
            service = new ServiceReport { Manager = config.ServiceManager, Installed = status.Installed, Running = status.Running, State = status.State, Detail = status.Detail };
        }
        catch (BelayException e)
        {
            service = new ServiceReport { Manager = config.ServiceManager, State = "unknown", Detail = e.Message };
        }
        return new StatusReport
        {
            Version = keeper?.AgentVersion ?? (keeper is null ? null : state.Trial?.Version ?? state.Current),
            Current = state.Current,
            Previous = state.Previous,
            Trial = state.Trial?.Version,
            Bad = state.Bad,
            Installed = Directory.Exists(layout.VersionsDir)
                ? [.. Directory.EnumerateDirectories(layout.VersionsDir).Select(Path.GetFileName).OfType<string>().Where(n => !n.StartsWith('.')).Order(StringComparer.Ordinal)]
                : [],
            Channel = config.Channel,
            Group = config.Group,
            Feed = config.Feeds.FirstOrDefault() ?? "",
            Feeds = config.Feeds,
            Sequence = agent?.Sequence ?? 0,
            ManifestExpires = agent?.ManifestExpires,
            LastCheck = agent?.LastCheck,
            Keeper = keeper is null ? null : new KeeperReport { Pid = keeper.Pid },
            Agent = new AgentReport { Pid = keeper?.AgentPid, Ready = keeper?.AgentReady ?? false },
            Host = HostReport.From(facts),
            ServiceManager = config.ServiceManager,
            Service = service,
            Scope = config.Scope,
            Config = configPath,
            Token = config.Token is null ? null : Belay.Core.Programs.Secrets.Mask,
            Programs = await ProgramsStatus.ReadAsync(layout, problems, cancellationToken).ConfigureAwait(false),
            Problems = problems,
        }.WithApps(await AppsStatus.ReadAsync(config, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>The agent's answer to CHECK on agent.sock, or null when it does not answer (then agent.json is read).</summary>
    private static async Task<AgentStatus?> LiveAgentStatusAsync(InstallLayout layout, CancellationToken cancellationToken)
    {
        var paths = Belay.Core.Programs.ProgramPaths.For(layout);
        if (!KeeperChannel.Exists(paths.AgentSocket))
        {
            return null;
        }
        try
        {
            var reply = await Belay.Core.Programs.AgentClient.SendAsync(paths, "CHECK", TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            return reply.StartsWith('{') && reply.Length > 2 ? AgentStatus.Parse(System.Text.Encoding.UTF8.GetBytes(reply), $"{paths.AgentSocket} (CHECK)") : null;
        }
        catch (BelayException)
        {
            return null; // an agent before CHECK, or none: agent.json says what it last wrote
        }
    }
    private static string Args(ParseResult result, Installation installation) =>
        (result.GetValue(installation.Scope) is { } scope ? $" --scope {scope}" : "") + (result.GetValue(installation.Prefix) is { } prefix ? $" --prefix {prefix.FullName}" : "");

    public static bool IsUp(StatusReport report) => report.Keeper is not null && report.Agent.Pid is not null;

    private static void Print(StatusReport r)
    {
        static string Or(string? s, string none = "-") => string.IsNullOrEmpty(s) ? none : s;
        Console.WriteLine($"version:          {Or(r.Version, "not running")} (installed {r.Current}{(r.Trial is null ? "" : $", on trial: {r.Trial}")})");
        Console.WriteLine($"previous:         {Or(r.Previous)}");
        Console.WriteLine($"bad versions:     {(r.Bad.Count == 0 ? "-" : string.Join(", ", r.Bad))}");
        Console.WriteLine($"installed:        {string.Join(", ", r.Installed)}");
        Console.WriteLine($"channel:          {r.Channel} at {string.Join(", ", r.Feeds)} (sequence {r.Sequence}{(r.ManifestExpires is { } e ? $", expires {e:u}" : "")})");
        Console.WriteLine($"last check:       {(r.LastCheck is { } c ? $"{c.At:u} {c.Result}{(c.Error is null ? "" : ": " + c.Error)}" : "never")}");
        Console.WriteLine($"keeper:           {(r.Keeper is { } k ? $"running, pid {k.Pid}" : "not running")} (service manager {r.ServiceManager}, {r.Scope} scope)");
        Console.WriteLine($"service:          {r.Service.Manager}: {r.Service.State}{(r.Service.Detail.Length > 0 ? $" ({r.Service.Detail})" : "")}");
        Console.WriteLine($"agent:            {(r.Agent.Pid is { } p ? $"pid {p}, {(r.Agent.Ready ? "ready" : "not ready")}" : "not running")}");
        ProgramsStatus.Print(r.Programs);
        AppsStatus.PrintSummary(new Belay.Core.Deploy.AppsReport { Group = r.Group, GroupCheck = r.GroupCheck, Apps = r.Apps });
        Console.WriteLine($"host:             {r.Host.Hostname} ({r.Host.Os}, {r.Host.Arch}, {r.Host.Rid}), id {r.Host.Id}");
        Console.WriteLine($"mac addresses:    {(r.Host.Macs.Count == 0 ? "-" : string.Join(", ", r.Host.Macs))}");
        Console.WriteLine($"config:           {r.Config}");
        foreach (var problem in r.Problems)
        {
            Console.Error.WriteLine($"belay: warning: {problem}");
        }
    }
}

internal sealed class StatusReport
{
    /// <summary>The version running now (null when the keeper is not running).</summary>
    public string? Version { get; set; }

    /// <summary>The committed version: what the keeper starts.</summary>
    public string Current { get; set; } = "";
    public string? Previous { get; set; }
    public string? Trial { get; set; }
    public List<string> Bad { get; set; } = [];
    public List<string> Installed { get; set; } = [];
    public string Channel { get; set; } = "";

    /// <summary>The group whose apps this host runs (config.json).</summary>
    public string Group { get; set; } = "";
    public string Feed { get; set; } = "";
    public List<string> Feeds { get; set; } = [];
    public long Sequence { get; set; }
    public DateTimeOffset? ManifestExpires { get; set; }
    public LastCheck? LastCheck { get; set; }
    public KeeperReport? Keeper { get; set; }
    public AgentReport Agent { get; set; } = new();
    public HostReport Host { get; set; } = new();
    public string ServiceManager { get; set; } = "";

    /// <summary>What the service manager says about the keeper's service.</summary>
    public ServiceReport Service { get; set; } = new();
    public string Scope { get; set; } = "";
    public string Config { get; set; } = "";

    /// <summary>"***" when config.json holds a token, else null: a secret is never printed.</summary>
    public string? Token { get; set; }

    /// <summary>Supervised programs: name, state, pid, restarts (DESIGN.md), and more; secret environment values masked.</summary>
    public List<Belay.Core.Programs.ProgramStatus> Programs { get; set; } = [];

    /// <summary>The last poll of the group document.</summary>
    public Belay.Core.Deploy.GroupCheck? GroupCheck { get; set; }

    /// <summary>Deployed apps: name, desired, running, state, step, bad, lastDeploy (DESIGN.md), and more.</summary>
    public List<Belay.Core.Deploy.AppStatus> Apps { get; set; } = [];

    public StatusReport WithApps(Belay.Core.Deploy.AppsReport apps)
    {
        Group = apps.Group;
        GroupCheck = apps.GroupCheck;
        Apps = apps.Apps;
        return this;
    }

    /// <summary>Files that could not be read as they must be ("FILE: field F: …; what to do"); belay doctor --repair fixes most.</summary>
    public List<string> Problems { get; set; } = [];
}

internal sealed class ServiceReport
{
    public string Manager { get; set; } = "";
    public bool Installed { get; set; }
    public bool Running { get; set; }
    public string State { get; set; } = "";
    public string Detail { get; set; } = "";
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(StatusReport))]
internal sealed partial class StatusJsonContext : JsonSerializerContext;
