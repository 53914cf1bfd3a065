using Belay.Agent.Supervision;
using Belay.Core.Deploy;
using Belay.Core.Feed;
using Belay.Core.Install;
using Serilog;

namespace Belay.Agent.Deploy;

/// <summary>
/// The agent's deployments (DESIGN.md, "Deployments"): each poll interval, alongside its own
/// channel, it polls the group document by conditional GET (<see cref="GroupFeedClient"/>), and
/// hands every app the verified document names to the <see cref="DeployRunner"/>, which
/// converges it through its lifecycle, the app supervised as a program ("@APP"). An app the
/// document does not name is left as it is; a document that does not verify changes nothing
/// and is reported (belay apps shows why).
/// </summary>
internal sealed class Deployments : IAsyncDisposable
{
    private readonly GroupFeedClient _client;
    private readonly DeployRunner _runner;
    private readonly DeployLogFiles _logs;
    private readonly SupervisedApps _apps;
    private readonly ILogger _log;
    private readonly TimeProvider _clock;
    private readonly string _hostIdFile;
    private readonly string _rid;
    private FeedSource? _source;
    private bool _stopped;

    private Deployments(GroupFeedClient client, DeployRunner runner, DeployLogFiles logs, SupervisedApps apps, ILogger log, TimeProvider clock, string hostIdFile, string rid)
    {
        _client = client;
        _runner = runner;
        _logs = logs;
        _apps = apps;
        _log = log;
        _clock = clock;
        _hostIdFile = hostIdFile;
        _rid = rid;
    }

    public string Group => _client.Group;

    /// <summary>The last poll of the group document, or null before the first.</summary>
    public GroupCheck? Check { get; private set; }

    /// <summary>True while an app's deploy is in progress: the agent's own update waits for it.</summary>
    public bool Deploying => _runner.Deploying;

    /// <summary>
    /// Wires the runner to the supervisor and the feed, and lets every app resume or fail what it was doing when the last agent stopped.
    /// <paramref name="changed"/> is called (it must not block) whenever an app's journal changed: the hub is sent a state.
    /// </summary>
    public static Deployments Start(InstallConfig config, Supervisor supervisor, IReadOnlyList<FeedSource> sources, ILogger log, TimeProvider clock,
        string agentExe, string rid, Action changed)
    {
        var layout = config.Layout;
        var paths = AppPaths.For(layout);
        var logs = new DeployLogFiles(paths, (app, message, warning) =>
        {
            if (warning)
            {
                log.Warning("app {App}: {Message}", app, message);
            }
            else
            {
                log.Information("app {App}: {Message}", app, message);
            }
        }, clock);
        var apps = new SupervisedApps(supervisor);
        var hooks = HookRunners.ForThisSystem(agentExe, logs, clock);
        var secrets = new GroupSecrets(layout.GroupIdentityFile);
        Deployments? self = null;
        var artifacts = new GroupArtifactSource(() => self?._source, rid);
        var steps = new DeployStepRunner(paths, config.Group, apps, hooks, artifacts, secrets, logs, clock);
        var runner = new DeployRunner(paths, config.Group, new DeployMachine(), steps, apps, secrets, logs, clock) { Changed = changed, SecretScope = config.SecretScope };
        var client = new GroupFeedClient(sources, config.ParseRootKeys(), config.Product, config.Group, layout.TrustFile, layout.GroupWatermarkFile, clock);
        self = new Deployments(client, runner, logs, apps, log, clock, layout.HostIdFile, rid);
        runner.Start();
        _ = runner.Failed.ContinueWith(t => log.Error("deployments: {Error}", t.Result.ToString()), TaskScheduler.Default);
        return self;
    }

    /// <summary>One poll of the group document; a verified change is handed to the runner.</summary>
    public async Task<GroupCheck> PollAsync(CancellationToken cancellationToken)
    {
        var poll = await _client.PollAsync(cancellationToken).ConfigureAwait(false);
        var check = new GroupCheck { At = _clock.GetUtcNow() };
        string? hostIdProblem = null;
        var hostId = poll.Outcome == GroupPollOutcome.Changed ? HostId.TryLoad(_hostIdFile, out hostIdProblem) : null;
        switch (poll.Outcome)
        {
            case GroupPollOutcome.Changed when hostId is null:
                // The rollout needs this host's id: the document waits (not acknowledged, read again next poll).
                check.Result = "error";
                check.Error = hostIdProblem;
                if (Check?.Error != check.Error)
                {
                    _log.Warning("group {Group}: {Error}; the apps stay as they are", Group, check.Error);
                }
                break;
            case GroupPollOutcome.Changed:
                var document = poll.Document!;
                _source = poll.Source;
                _log.Information("group {Group}: sequence {Sequence}, {Count} app(s), expires {Expires:u}", document.Group, document.Sequence, document.Apps.Count, document.Expires);
                _runner.Converge(document.Apps.Select(p => AppTarget.From(p.Key, p.Value, document.Sequence, _rid, hostId!)));
                _client.Acknowledge(poll);
                check.Result = "changed";
                break;
            case GroupPollOutcome.NotModified:
                _source = poll.Source;
                check.Result = "not-modified";
                break;
            case GroupPollOutcome.Missing:
                check.Result = "missing";
                break;
            default:
                check.Result = "error";
                check.Error = poll.Error?.Message ?? "the group document could not be read";
                if (Check?.Error != check.Error)
                {
                    _log.Warning("group {Group}: {Error}; the apps stay as they are", Group, check.Error);
                }
                break;
        }
        check.Sequence = _client.Watermark;
        Check = check;
        return check;
    }

    /// <summary>The APPS answer of the control socket: every app from its journal and its process.</summary>
    public async Task<AppsReport> ReportAsync()
    {
        var report = new AppsReport { Group = Group, GroupCheck = Check };
        foreach (var journal in _runner.Journals())
        {
            var process = await _apps.StatusAsync(journal.Name).ConfigureAwait(false);
            report.Apps.Add(AppStatus.From(journal, process, live: true));
        }
        foreach (var (app, error) in _runner.Broken())
        {
            report.Apps.Add(new AppStatus { Name = app, State = "failed", Error = error });
        }
        report.Apps.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return report;
    }

    /// <summary>Stops the runner (a running hook's group is killed; the journal keeps its step for the next agent).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopped)
        {
            return;
        }
        _stopped = true;
        await _runner.DisposeAsync().ConfigureAwait(false);
        _logs.Dispose();
    }
}
