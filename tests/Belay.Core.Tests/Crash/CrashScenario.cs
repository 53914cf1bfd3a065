using System.Security.Cryptography;
using Belay.Core.Feed;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Publishing;
using Belay.Core.Tests.Trust;
using Belay.Core.Update;
using Belay.TestSupport;

namespace Belay.Core.Tests.Crash;

/// <summary>
/// The life of a host, through the same code the installer, the agent and the keeper run,
/// on a disk that can lose power (<see cref="CrashingFileSystem"/>): install 1.0.0; the
/// agent stages 1.1.0 and the keeper switches to it (one failed try, then ready: commit);
/// 1.2.0 crashes on each of its three tries and is rolled back; an operator rolls back to
/// 1.0.0; the keeper stops, and `belay install --version 1.3.0` stages 1.3.0 and persists
/// its trial, which the next keeper tries and commits. After a crash, <see cref="RestartAsync"/>
/// does what the host does next: the service manager starts the keeper from state.json (or,
/// with no state.json, the operator runs the install again), and the agent stages again.
/// </summary>
internal sealed class CrashScenario : ICrashScenario, IDisposable
{
    public const string Rid = "linux-x64";
    public static readonly string[] Versions = ["1.0.0", "1.1.0", "1.2.0", "1.3.0"];

    private readonly TestFeed _feed = new();
    private readonly Dictionary<string, Dictionary<string, byte[]>> _packaged = new(StringComparer.Ordinal);
    private ChannelManifest? _manifest;
    private FeedSource? _source;

    public CrashScenario()
    {
        foreach (var version in Versions)
        {
            var input = _feed.Combine("input", version);
            var files = new Dictionary<string, byte[]>(StringComparer.Ordinal)
            {
                ["belay-agent"] = [.. "#!/bin/sh\n# agent "u8, .. System.Text.Encoding.UTF8.GetBytes(version), (byte)'\n', .. RandomNumberGenerator.GetBytes(8192)],
                ["lib/data.bin"] = RandomNumberGenerator.GetBytes(4096),
            };
            foreach (var (name, bytes) in files)
            {
                var path = Path.Combine(input, name);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, bytes);
            }
            File.SetUnixFileMode(Path.Combine(input, "belay-agent"), (UnixFileMode)0b111_101_101);
            var archive = _feed.Combine($"belay-agent-{version}-{Rid}.tar.gz");
            ArchiveBuilder.Create(input, archive, Rid, ArchiveBuilder.EntryTime(null));
            _feed.Publish(version, File.ReadAllBytes(archive));
            _packaged[version] = files;
        }
        Bootstrapper = _feed.Combine("belay");
        File.WriteAllBytes(Bootstrapper, RandomNumberGenerator.GetBytes(4096));
        Directory.CreateDirectory(_feed.Combine("host"));
        Layout = InstallLayout.For(InstallScope.User, _feed.Combine("host"));
    }

    public InstallLayout Layout { get; }
    public string HostRoot => Layout.BinRoot;
    public string Bootstrapper { get; }
    public FakeClock Clock => _feed.Clock;

    /// <summary>The version being staged, if any: the one a crash at a staging point is about.</summary>
    public string? Staging { get; private set; }

    /// <summary>The keeper running now, if any.</summary>
    public ScenarioKeeper? Keeper { get; private set; }

    public void Dispose() => _feed.Dispose();

    /// <summary>The whole life; throws <see cref="CrashException"/> where the disk crashes.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        await InstallAsync("1.0.0", ct);
        var keeper = StartKeeper();
        keeper.Send(new AgentReady("1.0.0"));

        await StageAsync("1.1.0", ct);
        keeper.Send(new SwitchRequested("1.1.0"));
        keeper.Send(new AgentExited(1));
        keeper.Send(new AgentReady("1.1.0"));

        await StageAsync("1.2.0", ct);
        keeper.Send(new SwitchRequested("1.2.0"));
        keeper.Send(new AgentExited(1));
        keeper.Send(new AgentExited(1));
        keeper.Send(new AgentExited(1));
        keeper.Send(new AgentReady("1.1.0"));

        keeper.Send(new RollbackRequested());
        keeper.Send(new AgentReady("1.0.0"));
        keeper.Send(new StopRequested());
        Keeper = null;

        await StageAsync("1.3.0", ct);
        InstallWriter.ScheduleTrial(Layout, InstallStateStore.Load(Layout.StateFile), "1.3.0", KeeperPolicy.Default.MaxTries, Clock.GetUtcNow());
        keeper = StartKeeper();
        keeper.Send(new AgentReady("1.3.0"));
    }

    /// <summary>
    /// After a crash and the power loss: what a host does next, asserting the invariant at
    /// each step: state.json parses and names versions that verify; the keeper boots and
    /// starts a verified version; the agent stages again. Returns the state it settled on.
    /// </summary>
    public async Task<InstallState> RestartAsync(CancellationToken ct)
    {
        Keeper = null;
        Staging = null;
        if (!File.Exists(Layout.StateFile))
        {
            // Not installed yet (state.json is written last): the operator runs the install again.
            await InstallAsync("1.0.0", ct);
        }
        var state = InstallStateStore.Load(Layout.StateFile);
        AssertVerified(state.Current);
        if (state.Trial is { } trial)
        {
            AssertVerified(trial.Version);
        }
        var keeper = StartKeeper(); // starting an agent asserts that it verifies
        Assert.NotNull(keeper.Running);
        keeper.Send(new AgentReady(keeper.Running));
        var settled = InstallStateStore.Load(Layout.StateFile);
        Assert.Null(settled.Trial);
        AssertVerified(settled.Current);
        Assert.Equal(settled.Current, keeper.Running);

        // The agent's next checks stage whatever it needs; leftovers of the crash are no obstacle.
        foreach (var version in Versions)
        {
            await StageAsync(version, ct);
            AssertVerified(version);
        }
        return settled;
    }

    public async Task InstallAsync(string version, CancellationToken ct)
    {
        var config = new InstallConfig
        {
            Feeds = [_feed.Root],
            RootKeys = [_feed.RootKey.PublicKey.ToBase64()],
            Scope = "user",
            Paths = ConfigPaths.From(Layout),
        };
        var manifest = await ManifestAsync(ct);
        InstallWriter.CreateFolders(Layout);
        var files = new InstallFiles(Bootstrapper, "0123456789abcdef0123456789abcdef",
            new AgentStatus { Sequence = manifest.Sequence, ManifestExpires = manifest.Expires }, config,
            InstallState.ForInstall(version, Clock.GetUtcNow()));
        Staging = version;
        await InstallWriter.WriteAsync(_source!, Release(version), Rid, Layout, files, _ => { }, ct);
        Staging = null;
    }

    public async Task StageAsync(string version, CancellationToken ct)
    {
        await ManifestAsync(ct);
        Staging = version;
        await Stager.StageAsync(_source!, Release(version), Rid, Layout, _ => { }, ct);
        Staging = null;
    }

    public ScenarioKeeper StartKeeper()
    {
        Keeper = new ScenarioKeeper(Layout.StateFile, Clock, AssertVerified);
        Keeper.Send(new Boot());
        return Keeper;
    }

    /// <summary>versions/&lt;v&gt; holds exactly the files of the signed archive, byte for byte.</summary>
    public void AssertVerified(string version)
    {
        var dir = Layout.VersionDir(version);
        Assert.True(Directory.Exists(dir), $"{dir} does not exist");
        var found = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(_packaged[version].Keys.Order(StringComparer.Ordinal), found);
        foreach (var (name, bytes) in _packaged[version])
        {
            Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir, name))),
                $"{version}/{name} is not what the signed archive holds ({new FileInfo(Path.Combine(dir, name)).Length} bytes, not {bytes.Length})");
        }
        Assert.True((File.GetUnixFileMode(Layout.AgentExe(version)) & UnixFileMode.UserExecute) != 0, $"{Layout.AgentExe(version)} is not executable");
    }

    /// <summary>The files (path under the host root → bytes) that a step promises once its crash point is reached.</summary>
    public Dictionary<string, byte[]> Promised(CrashPoint point)
    {
        IEnumerable<string> paths = point switch
        {
            CrashPoint.StageDownloaded or CrashPoint.StageExtracted => [],
            CrashPoint.StageRenamed => [Layout.VersionDir(Staging!)],
            CrashPoint.InstallBootstrapperCopied => [Layout.BelayExe],
            CrashPoint.InstallHostIdWritten => [Layout.HostIdFile],
            CrashPoint.InstallAgentStatusWritten => [Layout.AgentStatusFile],
            CrashPoint.InstallConfigWritten => [Layout.ConfigFile],
            _ => [Layout.StateFile],
        };
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            var files = Directory.Exists(path) ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories) : File.Exists(path) ? [path] : [];
            foreach (var file in files)
            {
                result[Path.GetRelativePath(HostRoot, file)] = File.ReadAllBytes(file);
            }
            if (!Directory.Exists(path) && !File.Exists(path))
            {
                result[Path.GetRelativePath(HostRoot, path)] = [];
            }
        }
        return result;
    }

    private ReleaseEntry Release(string version) => _manifest!.Releases.Single(r => r.Version == version);

    private async Task<ChannelManifest> ManifestAsync(CancellationToken ct)
    {
        if (_manifest is null)
        {
            using var client = _feed.Client(trustFile: null);
            var check = await client.CheckAsync(0, null, ct);
            _manifest = check.Manifest!;
            _source = check.Source;
        }
        return _manifest;
    }
}

/// <summary>
/// The keeper's runner as bootstrapper/Keeper/KeeperHost.cs carries out the machine's
/// actions, with the same write (<see cref="InstallStateStore.Persist"/>) and an imaginary agent:
/// starting a version asserts that its folder verifies.
/// </summary>
internal sealed class ScenarioKeeper(string stateFile, FakeClock clock, Action<string> verify)
{
    private readonly KeeperMachine _machine = new();
    private KeeperSnapshot _snapshot = KeeperSnapshot.Starting(InstallStateStore.Load(stateFile));

    public string? Running { get; private set; }

    public void Send(KeeperEvent e)
    {
        clock.Advance(TimeSpan.FromSeconds(1));
        if (e is AgentExited)
        {
            Running = null;
        }
        var d = _machine.Decide(_snapshot, e, clock.GetUtcNow());
        foreach (var action in d.Actions)
        {
            switch (action)
            {
                case PersistState p:
                    InstallStateStore.Persist(stateFile, p);
                    break;
                case StartAgent s:
                    verify(s.Version);
                    Running = s.Version;
                    break;
                case StopAgent:
                    Running = null;
                    break;
            }
        }
        _snapshot = d.Snapshot;
    }
}
