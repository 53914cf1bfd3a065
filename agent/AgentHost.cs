using System.Runtime.InteropServices;
using Belay.Agent.Hub;
using Belay.Agent.Supervision;
using Belay.Core;
using Belay.Core.Feed;
using Belay.Core.Hosting;
using Belay.Core.Hub;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Programs;
using Belay.Core.Update;
using Serilog;

namespace Belay.Agent;

/// <summary>
/// `belay-agent run`: load the config, then poll the channel manifest every poll interval
/// (±10% jitter; exponential backoff on errors up to five minutes), verify it, and when a
/// newer version this host is admitted to is there, stage it and ask the keeper to switch.
/// Ready is reported to the keeper once the config loaded and one feed check succeeded.
/// The agent never switches or rolls back by itself: a new version that crashes cannot be
/// trusted to undo itself, so the keeper owns that.
/// Before the first check it starts supervising the programs of programs.conf (adopting
/// those an earlier agent left running) and serves its control channel; when it ends it
/// either stops them all (SIGTERM: the service stops) or hands them over (SIGUSR2 from the
/// keeper, or a keeper that died: they keep running for the next agent).
/// </summary>
internal sealed class AgentHost
{
    /// <summary>
    /// How often the polling loop asks for a full collection (see the loop). Every 2 minutes while
    /// the feed connection was replaced every 5 (each time a handshake and a reload of the root
    /// store); the connection is now kept, so the collection is kept for what still churns
    /// (a reconnect, a changed manifest) and runs a fifth as often: it was about a tenth of the
    /// agent's CPU between polls.
    /// </summary>
    private static readonly TimeSpan CollectEvery = TimeSpan.FromMinutes(10);

    private readonly InstallConfig _config;
    private readonly string _configPath;
    private readonly InstallLayout _layout;
    private readonly ILogger _log;
    private readonly TimeProvider _clock;
    private readonly string? _keeperSocket;
    private readonly int? _keeperPid;
    private readonly string _version;
    private readonly AgentLifetime _lifetime;
    /// <summary>What the loop sleeps on between checks, on a thread of its own (ThreadedSignal: no timer thread, no thread pool for an idle poll); a hub's poke sets it.</summary>
    private ThreadedSignal? _poked;
    private volatile PollSnapshot _poll = new(false, null, 0, null);
    private AgentStatus? _status;
    private string? _statusWriteError;
    private volatile Deploy.Deployments? _deployments;

    /// <summary>The hub connection once started (the deploy runner tells it when an app's state changed).</summary>
    private volatile HubClient? _hub;

    /// <summary>An update is put off while an app deploys (said once in the log, not at every check).</summary>
    private bool _updateWaitsForDeploy;

    /// <summary>When the executable's pages go back again after one-time work (a deploy, a changed manifest, a reload, a hub connection).</summary>
    private readonly PageReleaseSchedule _pages;

    /// <summary>A deploy is running: the page releases wait for it (one delegate, not one a poll).</summary>
    private readonly Func<bool> _deploying;

    public AgentHost(InstallConfig config, string configPath, ILogger log, TimeProvider clock, string? keeperSocket, int? keeperPid, string version, AgentLifetime lifetime)
    {
        _lifetime = lifetime;
        _config = config;
        _configPath = configPath;
        _layout = config.Layout;
        _log = log;
        _clock = clock;
        _keeperSocket = keeperSocket;
        _keeperPid = keeperPid;
        _version = version;
        _pages = new PageReleaseSchedule(clock);
        _deploying = () => _deployments?.Deploying == true;
    }

    public async Task<int> RunAsync(CancellationToken stop)
    {
        // The first feed check's TLS roots load beside the start below, not after its connection is made.
        SystemRoots.PreloadFor(_config.Feeds);
        // An agent whose keeper died must not linger: a restarted keeper starts a new one,
        // and two agents would race. Linux tells us (SIGTERM on the parent's death); on
        // other systems the poll loop notices the adoption.
        var watchKeeper = _keeperSocket is not null && !OperatingSystem.IsWindows();
        // The keeper says its pid: a parent read here could already be the subreaper or init that adopted an agent
        // whose keeper died while it started (before the prctl below), and such an agent would never see it gone.
        var keeperPid = OperatingSystem.IsWindows() ? 0 : _keeperPid is > 0 and var kp ? kp : Posix.ParentId;
        bool KeeperGone() => watchKeeper && !OperatingSystem.IsWindows() && Posix.ParentId != keeperPid;
        if (watchKeeper && !OperatingSystem.IsWindows())
        {
            // A keeper that dies hands the programs over: the next keeper's agent adopts them.
            PosixProcess.SignalOnParentDeath(PosixProcess.SigUsr2);
        }
        if (KeeperGone())
        {
            return ExitCodes.Error;
        }
        // One agent at a time (AgentLock): an agent whose keeper died may still be handing over; nothing of the
        // programs' state or the apps' journals is read before it has ended.
        AgentLock agentLock;
        try
        {
            agentLock = await AgentLock.AcquireAsync(_layout.AgentLockFile, _layout.AgentPidFile,
                PreviousAgentHandOver, EndPreviousAgent, WarnWhileWaiting, _clock, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return ExitCodes.Ok;
        }
        using var heldLock = agentLock;
        if (KeeperGone())
        {
            return ExitCodes.Error;
        }
        var status = AgentStatus.TryLoad(_layout.AgentStatusFile, out var statusProblem) ?? new AgentStatus();
        if (statusProblem is not null)
        {
            _log.Warning("{Problem}", statusProblem);
            status.ManifestETag = null; // nothing in it is trusted: fetch the manifest afresh
        }
        status.Pid = Environment.ProcessId;
        status.Version = _version;
        status.Ready = false;
        _status = status;
        SaveStatus(status);
        var rid = RuntimeInformation.RuntimeIdentifier;
        _log.Information("agent {Version} started (pid {Pid}, config {Config}, channel {Channel}, poll every {Interval})",
            _version, status.Pid, _configPath, _config.Channel, _config.PollInterval);

        if (OperatingSystem.IsWindows())
        {
            ProtectSecretsAtRest();
        }
        using var poked = new ThreadedSignal(_clock, "belay poll");
        _poked = poked;
        using var supervision = await StartSupervisionAsync(stop).ConfigureAwait(false);

        // The hub, when this host was enrolled with one (hub.json): its own task, never awaited by the loop below.
        // A host id that does not load now is reported by the first feed check; the hub then starts after it.
        var hub = HostId.TryLoad(_layout.HostIdFile, out _) is { } knownHostId ? StartHub(knownHostId, supervision, stop) : (null, Task.CompletedTask);

        using var client = new FeedClient(_config.Feeds, _config.ParseRootKeys(), _config.Product, _config.Channel, _config.AllowInsecureHttp, _clock, trustFile: _layout.TrustFile);
        var deployments = StartDeployments(supervision, client, rid);
        var errors = 0;
        var savedAt = DateTimeOffset.MinValue;
        var collectedAt = _clock.GetUtcNow();
        var savedSequence = status.Sequence;
        string? hostId = null;
        string? trustProblem = null;
        var hubConnected = false;
        while (!stop.IsCancellationRequested)
        {
            if (KeeperGone())
            {
                _log.Warning("the keeper (pid {Pid}) is gone; stopping so that its successor starts a fresh agent", keeperPid);
                _lifetime.HandOver = true;
                break;
            }
            var check = new LastCheck { At = _clock.GetUtcNow() };
            try
            {
                hostId ??= HostId.Load(_layout.HostIdFile);
                var result = await client.CheckAsync(status.Sequence, status.ManifestETag, stop).ConfigureAwait(false);
                if (client.TrustFileProblem != trustProblem)
                {
                    trustProblem = client.TrustFileProblem;
                    if (trustProblem is not null)
                    {
                        _log.Warning("{Problem}", trustProblem);
                    }
                }
                check.Result = result.NotModified ? "not-modified" : "ok";
                var actedOn = true;
                if (result.Manifest is { } manifest)
                {
                    _pages.WorkHappened(); // a manifest verified, perhaps an update staged
                    if (manifest.Sequence != status.Sequence)
                    {
                        _log.Information("channel {Channel}: sequence {Sequence}, {Count} release(s), expires {Expires:u}",
                            manifest.Channel, manifest.Sequence, manifest.Releases.Count, manifest.Expires);
                    }
                    status.Sequence = manifest.Sequence;
                    status.ManifestExpires = manifest.Expires;
                    var outcome = await ConsiderUpdateAsync(manifest, result.Source, rid, hostId, status, stop).ConfigureAwait(false);
                    if (outcome == UpdateOutcome.Staged)
                    {
                        check.Result = "update-staged";
                    }
                    actedOn = outcome != UpdateOutcome.Deferred;
                }
                // The ETag says "you have seen this manifest": kept only once what it describes was acted on, so that
                // an update that could not happen now (a full disk, a trial running, a busy lock) is tried again at
                // the next check instead of being answered "not modified" until the next publish.
                status.ManifestETag = actedOn ? result.ETag : null;
                errors = 0;
                if (!status.Ready)
                {
                    status.Ready = true;
                    status.LastCheck = check;
                    SaveStatus(status);
                    await TellKeeperAsync($"READY {_version}", stop).ConfigureAwait(false);
                    _log.Information("ready");
                    // Start-up is over: its garbage and the executable's pages that only it used go back (StartupPages).
                    _log.Debug("gave back {Kb} kB of start-up pages", HeapTrim.CollectThenReleasePages());
                    collectedAt = check.At;
                    _pages.Released();
                }
            }
            catch (BelayException e)
            {
                errors++;
                check.Result = e is StaleMetadataException ? "stale" : "error";
                check.Error = e.Message;
                status.ManifestETag = null;
                _log.Warning("feed check failed ({Errors} in a row): {Error}", errors, e.Message);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A full disk, most of all: one line, the programs keep running, and the next check tries again.
                errors++;
                check.Result = "error";
                check.Error = $"{IOErrors.DescribeWrite(e, IOErrors.PathIn(e) ?? _layout.StateDir)}; trying again at the next check";
                status.ManifestETag = null;
                _log.Warning("feed check failed ({Errors} in a row): {Error}", errors, check.Error);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            if (deployments is not null)
            {
                try
                {
                    var group = await deployments.PollAsync(stop).ConfigureAwait(false);
                    if (group.Result == "changed")
                    {
                        _pages.WorkHappened(); // a group document verified and handed to the runner
                    }
                    if (status.GroupCheck?.Result != group.Result || status.GroupCheck?.Error != group.Error || status.GroupCheck?.Sequence != group.Sequence)
                    {
                        savedAt = DateTimeOffset.MinValue;
                    }
                    status.GroupCheck = group;
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    break;
                }
            }
            // agent.json is flushed to disk when something changed, else at most once a minute:
            // an unchanged 304 every ten seconds need not cost an fsync on every host.
            var previous = status.LastCheck;
            status.LastCheck = check;
            if (previous is null || previous.Result != check.Result || previous.Error != check.Error || status.Sequence != savedSequence
                || check.At - savedAt >= TimeSpan.FromMinutes(1))
            {
                if (SaveStatus(status))
                {
                    savedAt = check.At;
                    savedSequence = status.Sequence;
                }
            }
            // Native memory behind finalizable handles (TLS, X509: the runtime reloads the system
            // root store every five minutes) is freed only when a collection finalizes them, and
            // an idle agent allocates so little that a collection can be half an hour away.
            // The executable's pages go back with it (PageReleaseSchedule.DueAtCollection: not while a deploy runs, nor
            // just after work): the collection runs the GC's own code, and what ran every few minutes since the last
            // release (the pool's scavenging, the root store's reload) lies outside the steady loop's first windows, so it
            // stayed resident until the next one-time work; the steady loop's windows fault back in at the next poll.
            if (check.At - collectedAt >= CollectEvery || (check.Result != "not-modified" && check.At - collectedAt >= TimeSpan.FromMinutes(1)))
            {
                if (_pages.DueAtCollection(_deploying))
                {
                    _log.Debug("gave back {Kb} kB of the executable's pages at the periodic collection", HeapTrim.CollectThenReleasePages());
                }
                else
                {
                    HeapTrim.Collect();
                }
                collectedAt = check.At;
            }
            if (hub.Client is { Connected: var connected } && connected != hubConnected)
            {
                hubConnected = connected;
                if (connected)
                {
                    _pages.WorkHappened(); // the hub connection's set-up: its handshake, hello and first state
                }
            }
            // One-time work since the pages last went back faulted its own windows of the executable in: they go back
            // again once it ended (PageReleaseSchedule; an idle loop pays two field reads here).
            if (_pages.Due(_deploying))
            {
                _log.Debug("gave back {Kb} kB of the executable's pages after one-time work", HeapTrim.CollectThenReleasePages());
                collectedAt = check.At;
            }
            _poll = new PollSnapshot(status.Ready, check, status.Sequence, status.ManifestExpires);
            hub.Client?.StateMayHaveChanged();
            if (hub.Client is null && hostId is not null && File.Exists(HubSettings.PathIn(_layout)))
            {
                hub = StartHub(hostId, supervision, stop); // enrolled by a later `belay install --hub`
            }
            var delay = PollSchedule.NextDelay(_config.PollIntervalValue, errors, Random.Shared.NextDouble());
            try
            {
                await WaitForNextCheckAsync(delay, check.At, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        await hub.Run.ConfigureAwait(false);
        status.Ready = false;
        SaveStatus(status);
        _log.Information("agent {Version} stopping ({How})", _version, _lifetime.HandOver ? "handing programs over" : "stopping programs");
        if (deployments is not null)
        {
            // Steps stop first (a running hook's group is killed; its journal names the step for the next agent).
            await deployments.DisposeAsync().ConfigureAwait(false);
        }
        await supervision.EndAsync(_lifetime.HandOver).ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    /// <summary>The least time between two feed checks that a hub's pokes can cause: a hub cannot make the agent hammer the feed.</summary>
    private static readonly TimeSpan PokeSpacing = TimeSpan.FromSeconds(5);

    /// <summary>Waits for the next poll: the scheduled delay, or a hub's poke (but never sooner than <see cref="PokeSpacing"/> after the last check).</summary>
    private async Task WaitForNextCheckAsync(TimeSpan delay, DateTimeOffset lastCheck, CancellationToken stop)
    {
        var due = lastCheck + delay;
        while (true)
        {
            var left = due - _clock.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return;
            }
            if (!await _poked!.WaitAsync(left, stop).ConfigureAwait(false))
            {
                return;
            }
            var earliest = lastCheck + PokeSpacing;
            due = earliest < due ? earliest : due;
        }
    }

    private (HubClient? Client, Task Run) StartHub(string hostId, Supervision.Supervision? supervision, CancellationToken stop)
    {
        var settingsPath = HubSettings.PathIn(_layout);
        if (!File.Exists(settingsPath))
        {
            return (null, Task.CompletedTask);
        }
        var facts = HostFacts.Read(hostId);
        var paths = ProgramPaths.For(_layout);
        // The keeper is the agent's parent; Windows has no parent pid to read, so there the keeper's own word.
        var builder = new HubStateBuilder(_config, _version, facts, () => OperatingSystem.IsWindows() ? _keeperPid : Posix.ParentId, () => _poll,
            () => supervision is not null ? supervision.Supervisor.StatusAsync() : Task.FromResult(new List<ProgramStatus>()),
            AppsAsync);
        Hello Hello() => new()
        {
            Version = _version,
            Rid = RuntimeInformation.RuntimeIdentifier,
            Host = new HelloHost { Id = facts.Id, Hostname = facts.Hostname, Os = facts.Os, Arch = facts.Arch, Macs = [.. facts.Macs] },
            Group = _config.Group,
        };
        var client = new HubClient(settingsPath, Hello, builder.BuildAsync, Poke, (program, stream) => HubLogs.Resolve(_layout, paths, program, stream), _log, _clock, _version);
        _hub = client;
        return (client, Task.Run(async () =>
        {
            try
            {
                await client.RunAsync(stop).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The hub is optional: whatever goes wrong with it must not take the agent down.
                _log.Error("hub: the connection task ended: {Error}", e.Message);
            }
        }, CancellationToken.None));

        void Poke() => _poked?.Set();
    }

    /// <summary>The apps as belay status shows them, from the deploy runner (null before it started, or where there is none).</summary>
    private async Task<Core.Deploy.AppsReport?> AppsAsync() =>
        _deployments is { } deployments ? await deployments.ReportAsync().ConfigureAwait(false) : null;

    /// <summary>
    /// Writes agent.json; a failure (a full disk) is said once, not at every check, and the agent goes on with the
    /// status in memory, which `belay status` reads from it over agent.sock. True when written.
    /// </summary>
    private bool SaveStatus(AgentStatus status)
    {
        try
        {
            status.Save(_layout.AgentStatusFile);
            if (_statusWriteError is not null)
            {
                _log.Information("{File} is written again", _layout.AgentStatusFile);
                _statusWriteError = null;
            }
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var problem = IOErrors.DescribeWrite(e, _layout.AgentStatusFile);
            if (problem != _statusWriteError)
            {
                _log.Error("{Problem}; the agent keeps its status in memory and its programs running, and writes it again when it can", problem);
                _statusWriteError = problem;
            }
            return false;
        }
    }

    /// <summary>The live status, for `belay status` over agent.sock (CHECK): the file may be out of date when the disk is full.</summary>
    private string StatusJson()
    {
        var status = _status;
        return status is null ? "{}" : System.Text.Encoding.UTF8.GetString(status.ToJson());
    }

    /// <summary>Windows: secrets written in clear before DPAPI (config.json's token, the hub credential, the group identity) are rewritten protected.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("windows")]
    private void ProtectSecretsAtRest()
    {
        try
        {
            foreach (var line in SecretsAtRest.ProtectPlain(_layout, new SecretProtection(new Belay.Core.IO.Windows.NativeDataProtection(), _config.SecretScope)))
            {
                _log.Information("{What}", line);
            }
        }
        catch (Exception e) when (e is BelayException or IOException or UnauthorizedAccessException)
        {
            _log.Error("cannot protect the secrets kept in clear: {Error}; they stay as they are, owner-only (belay doctor)", e.Message);
        }
    }

    private async Task<Supervision.Supervision> StartSupervisionAsync(CancellationToken stop)
    {
        var paths = ProgramPaths.For(_layout);
        var loader = new ProgramsConfigLoader(paths, _log);
        var exe = Environment.ProcessPath ?? throw new BelayException("cannot tell where belay-agent runs from");
        IProgramHost host;
        if (OperatingSystem.IsWindows())
        {
            host = new WindowsProgramHost(paths, _log, exe, _keeperPid, _config.SecretScope);
        }
        else
        {
            host = new PosixProgramHost(paths, _log, exe);
        }
        var supervisor = new Supervisor(paths, _log, _clock, host);
        var definitions = loader.LoadAtStart();
        await supervisor.StartAsync(definitions).ConfigureAwait(false);
        _log.Information("supervising {Count} program(s) from {Config}", definitions.Count, paths.ConfigFile);
        async Task<string> ReloadAsync()
        {
            _pages.WorkHappened(); // programs.conf read again, programs started or stopped
            try
            {
                return await supervisor.ReloadAsync(loader.Load()).ConfigureAwait(false);
            }
            catch (ProgramsConfigException e)
            {
                _log.Error("reload refused, the running programs config stays: {Error}", e.Message);
                return "ERR " + e.Message;
            }
        }
        _lifetime.Reload = () => _ = ReloadAsync();
        // Not linked to the agent's stop: the channel still answers (SHUTDOWN's own reply among them) while the programs
        // stop, and ends with them (Supervision.EndAsync).
        var serving = new CancellationTokenSource();
        var control = new AgentControl(supervisor, ReloadAsync, StatusJson) { End = _lifetime.End };
        var channel = KeeperChannel.ServeAsync(paths.AgentSocket, control.HandleAsync, m => _log.Debug("{Message}", m), serving.Token).ContinueWith(t =>
        {
            if (t.Exception?.InnerException is { } e)
            {
                _log.Error("the agent's control channel {Socket} failed: {Error}", paths.AgentSocket, SystemErrors.Describe(e));
            }
        }, TaskScheduler.Default);
        return new Supervision.Supervision(supervisor, channel, serving, control);
    }

    private Deploy.Deployments StartDeployments(Supervision.Supervision supervision, FeedClient client, string rid)
    {
        var exe = Environment.ProcessPath ?? throw new BelayException("cannot tell where belay-agent runs from");
        var deployments = Deploy.Deployments.Start(_config, supervision.Supervisor, client.Sources, _log, _clock, exe, rid, () =>
        {
            _pages.WorkHappened(); // a deploy began, moved on, committed, failed or rolled back
            _hub?.StateMayHaveChanged();
        });
        _deployments = deployments;
        supervision.Control.Apps = async () => (await deployments.ReportAsync().ConfigureAwait(false)).ToJson().ReplaceLineEndings(" ");
        _log.Information("deploying group {Group}", deployments.Group);
        return deployments;
    }

    /// <summary>What a check did about the manifest it read.</summary>
    private enum UpdateOutcome
    {
        /// <summary>No update for this host: nothing to do until the manifest changes.</summary>
        None,

        /// <summary>An update was staged and the keeper asked to switch.</summary>
        Staged,

        /// <summary>An update is there but could not be taken now (a trial runs, the lock is held, no keeper answered): try again next check.</summary>
        Deferred,
    }

    private async Task<UpdateOutcome> ConsiderUpdateAsync(ChannelManifest manifest, FeedSource source, string rid, string hostId, AgentStatus status,
        CancellationToken stop)
    {
        // What the keeper runs is what counts, whatever this binary says it is.
        var state = InstallStateStore.Load(_layout.StateFile);
        var running = state.Trial?.Version ?? state.Current;
        var release = UpdatePolicy.ChooseUpdate(manifest, rid, hostId, running, state.Bad, _config.PinnedVersion);
        if (release is null)
        {
            return UpdateOutcome.None;
        }
        if (state.Trial is not null)
        {
            _log.Information("version {Version} is available; waiting for the trial of {Trial} to end", release.Version, state.Trial.Version);
            return UpdateOutcome.Deferred;
        }
        if (_deployments is { Deploying: true })
        {
            // A handover in the middle of a hook would fail that deploy ("agent restarted during STEP"): wait for it
            // to end. Deferred keeps the manifest's ETag unset, so the next check reads it again and takes it up.
            if (!_updateWaitsForDeploy)
            {
                _log.Information("version {Version} is available; waiting for the deploy in progress to end", release.Version);
            }
            _updateWaitsForDeploy = true;
            return UpdateOutcome.Deferred;
        }
        _updateWaitsForDeploy = false;
        using (var held = InstallLock.TryAcquire(_layout, out var holder))
        {
            if (held is null)
            {
                _log.Information("version {Version} is available; another belay install/update is running (pid {Pid}): trying again at the next check",
                    release.Version, holder?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown");
                return UpdateOutcome.Deferred;
            }
            _log.Information("version {Version} is available (running {Current}); staging it", release.Version, running);
            await Stager.StageAsync(source, release, rid, _layout, m => _log.Information("{Message}", m), stop).ConfigureAwait(false);
        }
        status.Staged = release.Version;
        SaveStatus(status);
        var reply = await TellKeeperAsync($"SWITCH {release.Version}", stop).ConfigureAwait(false);
        _log.Information("asked the keeper to switch to {Version}: {Reply}", release.Version, reply ?? "no keeper");
        return reply is null && !string.IsNullOrEmpty(_keeperSocket) ? UpdateOutcome.Deferred : UpdateOutcome.Staged;
    }

    private async Task<string?> TellKeeperAsync(string message, CancellationToken stop)
    {
        if (string.IsNullOrEmpty(_keeperSocket))
        {
            return null;
        }
        try
        {
            return await KeeperChannel.SendAsync(_keeperSocket, message, TimeSpan.FromSeconds(10), stop).ConfigureAwait(false);
        }
        catch (BelayException e)
        {
            _log.Warning("{Error}", e.Message);
            return null;
        }
    }

    // Placed last: members added above RunAsync renumber its compiler-generated state machine, which the order file names.

    /// <summary>How long an agent still running for this installation gets to end before the next one kills it: what a keeper gives an agent to hand over.</summary>
    private static readonly TimeSpan PreviousAgentHandOver = TimeSpan.FromSeconds(10);

    private void WarnWhileWaiting(string message) => _log.Warning("{Message}", message);

    /// <summary>Kills the agent that holds agent.lock and did not end in time, if <paramref name="pid"/> is still that process (a belay-agent started then).</summary>
    private static bool EndPreviousAgent(int pid, long startTime)
    {
        try
        {
            if (OperatingSystem.IsWindows())
            {
                using var process = System.Diagnostics.Process.GetProcessById(pid);
                if (!process.ProcessName.StartsWith("belay-agent", StringComparison.OrdinalIgnoreCase) || AgentLock.Holder.StartTimeOf(process) != startTime)
                {
                    return false;
                }
                process.Kill(entireProcessTree: false);
                return true;
            }
            // Alone, as a keeper kills an agent that does not hand over in time: its programs lead sessions of their own and stay.
            return startTime > 0 && PosixProcess.IsSameProcessAlive(pid, startTime) && Posix.SendSignal(pid, PosixProcess.SigKill);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
