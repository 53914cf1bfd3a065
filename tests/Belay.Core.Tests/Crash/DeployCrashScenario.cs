using System.Security.Cryptography;
using Belay.Core.Deploy;
using Belay.Core.IO;
using Belay.Core.Programs;
using Belay.Core.Publishing;
using Belay.TestSupport;

namespace Belay.Core.Tests.Crash;

/// <summary>
/// The life of one app on a host, through the deploy runner the agent runs (journal, fetch,
/// extraction, unpack, prune), on a disk that can lose power (<see cref="CrashingFileSystem"/>),
/// with the supervisor and the hooks faked (the app's process, like a real one, outlives the
/// agent): install 1.0.0; update to 1.1.0; 1.2.0's post_start fails and 1.1.0 is restored; stop;
/// remove. After a crash, <see cref="RestartAsync"/> starts a new runner on what survived and
/// asserts the invariant: the journal parses; the release it names as current holds the signed
/// archive's files byte for byte; the app runs that release (if it should), or nothing; and the
/// app then converges normally.
/// </summary>
internal sealed class DeployCrashScenario : ICrashScenario, IDisposable
{
    public const string App = "shop";
    public static readonly string[] Versions = ["1.0.0", "1.1.0", "1.2.0"];

    private readonly TempDir _dir = new();
    private readonly Dictionary<string, Dictionary<string, byte[]>> _packaged = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Archive, AppArtifact Artifact)> _archives = new(StringComparer.Ordinal);
    private AppTarget? _last;

    public DeployCrashScenario()
    {
        foreach (var version in Versions)
        {
            var input = _dir.Combine("input", version);
            var files = new Dictionary<string, byte[]>(StringComparer.Ordinal)
            {
                ["belay-app.conf"] = System.Text.Encoding.UTF8.GetBytes(
                    "[app]\nexec = bin/shop\nkeep_releases = 2\n[hooks]\npre_install = hooks/step.sh\npost_start = hooks/step.sh\n[health]\nhealthy_for = 0\n"),
                ["bin/shop"] = [.. "#!/bin/sh\n# shop "u8, .. System.Text.Encoding.UTF8.GetBytes(version), (byte)'\n', .. RandomNumberGenerator.GetBytes(8192)],
                ["hooks/step.sh"] = "#!/bin/sh\nexit 0\n"u8.ToArray(),
                ["data/catalog.bin"] = RandomNumberGenerator.GetBytes(4096),
            };
            foreach (var (name, bytes) in files)
            {
                var path = Path.Combine(input, name);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, bytes);
                if (name is "bin/shop" or "hooks/step.sh")
                {
                    File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
                }
            }
            var archive = _dir.Combine($"{App}-{version}-linux-x64.tar.gz");
            ArchiveBuilder.Create(input, archive, "linux-x64", ArchiveBuilder.EntryTime(null));
            var bytesOnDisk = File.ReadAllBytes(archive);
            _archives[version] = (archive, new AppArtifact("linux-x64", $"apps/{App}/{version}/{App}-{version}-linux-x64.tar.gz",
                Convert.ToHexStringLower(SHA256.HashData(bytesOnDisk)), bytesOnDisk.Length));
            _packaged[version] = files;
        }
        Directory.CreateDirectory(_dir.Combine("host"));
        Paths = new AppPaths(_dir.Combine("host", "releases"), _dir.Combine("host", "var", "apps"), _dir.Combine("host", "log", "apps"));
    }

    public AppPaths Paths { get; }
    public string HostRoot => _dir.Combine("host");
    public FakeClock Clock { get; } = new();

    /// <summary>The app's process: it outlives any one runner, as a supervised app outlives its agent.</summary>
    public FakeApps Apps { get; } = new();

    /// <summary>The version the runner is unpacking or extracting now (what a crash at those points is about).</summary>
    public string? Installing => _last?.Version;

    public void Dispose() => _dir.Dispose();

    public static AppTarget Target(string version, AppDesiredState state = AppDesiredState.Running) => new()
    {
        Name = App,
        Version = version,
        State = state,
        Settings = new AppSettings { Env = [new EnvEntry("MODE", "prod")] },
    };

    private AppTarget WithArtifact(AppTarget t) => t.State == AppDesiredState.Absent ? t : t with { Artifact = _archives[t.Version].Artifact };

    /// <summary>The whole life; throws <see cref="CrashException"/> where the disk crashes.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        await using var runner = NewRunner();
        runner.Start();
        await ConvergeAsync(runner, Target("1.0.0"), j => j.Current == "1.0.0", ct);
        await ConvergeAsync(runner, Target("1.1.0"), j => j.Current == "1.1.0", ct);
        await ConvergeAsync(runner, Target("1.2.0"), j => j.History.Count > 0 && j.History[^1] is { Version: "1.2.0", Result: "rolled-back" }, ct);
        await ConvergeAsync(runner, Target("1.1.0", AppDesiredState.Stopped), j => !j.Running && j.Current == "1.1.0", ct);
        await ConvergeAsync(runner, AppTarget.Absent(App), j => j.Current is null, ct);
    }

    /// <summary>
    /// After a crash and the power loss: a new runner (the next agent) on what survived. Asserts the
    /// invariant once the app settled, then converges it to 1.1.0 running and asserts it again.
    /// Returns the journal it settled on first.
    /// </summary>
    public async Task<AppJournal?> RestartAsync(CancellationToken ct)
    {
        var before = AppJournalStore.TryLoad(Paths.Journal(App)); // parses, or the test fails here
        await using var runner = NewRunner();
        runner.Start();
        var settled = await SettleAsync(runner, j => j.Deploy is null, ct);
        AssertConsistent(settled);
        if (settled is { Current: { } current, Running: true })
        {
            // Never neither: the release it names runs.
            Assert.Equal(Identity(current, settled.CurrentSettings!), Apps.RunningIdentity);
        }
        // Another revision than any before (a crash may have marked 1.1.0 with its first settings bad).
        var after = Target("1.1.0") with { Settings = new AppSettings { Env = [new EnvEntry("MODE", "after-the-crash")] } };
        await ConvergeAsync(runner, after, j => j.Current == "1.1.0" && j.Running, ct);
        AssertConsistent(AppJournalStore.TryLoad(Paths.Journal(App)));
        Assert.Equal(Identity("1.1.0", after.Settings), Apps.RunningIdentity);
        _ = before;
        return settled;
    }

    public async Task ConvergeAsync(DeployRunner runner, AppTarget target, Func<AppJournal, bool> done, CancellationToken ct)
    {
        _last = target;
        runner.Converge([WithArtifact(target)]);
        await SettleAsync(runner, j => j.Deploy is null && j.Desired == WithArtifact(target) && done(j), ct);
    }

    private static async Task<AppJournal?> SettleAsync(DeployRunner runner, Func<AppJournal, bool> done, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (runner.Failed.IsCompleted)
            {
                throw await runner.Failed;
            }
            var journals = runner.Journals();
            var journal = journals.Count > 0 ? journals[0] : null;
            if (journal is null && journals.Count == 0 && runner.Broken().Count == 0)
            {
                // No journal: nothing was ever journaled for the app.
                return null;
            }
            if (journal is not null && done(journal) && runner.Idle)
            {
                return journal;
            }
            await Task.Delay(10, ct);
        }
        throw new TimeoutException($"the app did not settle: {string.Join(", ", runner.Journals().Select(j => $"{j.Current} {j.Deploy?.Step}"))}");
    }

    /// <summary>A runner on this host, as the agent makes it (<paramref name="changed"/>: its <see cref="DeployRunner.Changed"/>).</summary>
    public DeployRunner NewRunner(Action? changed = null, ILeftHooks? leftHooks = null)
    {
        var log = new NullLog();
        var secrets = new PlainSecrets();
        var steps = new DeployStepRunner(Paths, "default", Apps, new FakeHooks(), new LocalArtifacts(_archives), secrets, log, Clock);
        return new DeployRunner(Paths, "default", new DeployMachine(), steps, Apps, secrets, log, Clock) { Changed = changed, LeftHooks = leftHooks };
    }

    /// <summary>The journal's current release holds exactly the signed archive's files; a release folder is never partial.</summary>
    public void AssertConsistent(AppJournal? journal)
    {
        if (journal?.Current is { } current)
        {
            AssertVerified(current);
        }
        if (journal?.Previous is { } previous && journal.Current is not null)
        {
            AssertVerified(previous);
        }
        foreach (var version in ReleaseFolders.Installed(Paths, App))
        {
            AssertVerified(version);
        }
    }

    public void AssertVerified(string version)
    {
        var dir = Paths.Release(App, version);
        Assert.True(Directory.Exists(dir), $"{dir} does not exist");
        var found = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
        Assert.True(_packaged[version].Keys.Order(StringComparer.Ordinal).SequenceEqual(found),
            $"{dir} holds [{string.Join(", ", found)}], not the archive's [{string.Join(", ", _packaged[version].Keys.Order(StringComparer.Ordinal))}]");
        foreach (var (name, bytes) in _packaged[version])
        {
            Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir, name))), $"{version}/{name} is not what the signed archive holds");
        }
    }

    public string Identity(string version, AppSettings settings) =>
        ResolvedRelease.Load(App, version, Paths.Release(App, version), settings, "default", new PlainSecrets()).Identity;

    /// <summary>The files (path under the host root → bytes) that a step promises once its crash point is reached.</summary>
    public Dictionary<string, byte[]> Promised(CrashPoint point)
    {
        var promised = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        void Add(string path)
        {
            if (File.Exists(path))
            {
                promised[Path.GetRelativePath(HostRoot, path)] = File.ReadAllBytes(path);
            }
            else if (Directory.Exists(path))
            {
                foreach (var file in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories))
                {
                    promised[Path.GetRelativePath(HostRoot, file)] = File.ReadAllBytes(file);
                }
            }
        }
        switch (point)
        {
            case CrashPoint.DeployUnpacked:
                Add(Paths.Release(App, Installing!));
                break;
            case CrashPoint.DeployDesiredRecorded or CrashPoint.DeployStepJournaled or CrashPoint.DeployCommitted or CrashPoint.DeployFailed:
                Add(Paths.Journal(App));
                break;
        }
        return promised;
    }

    /// <summary>The app's process as the supervisor keeps it: one unit, its definition, running or not.</summary>
    public sealed class FakeApps : IAppProcess
    {
        private readonly Lock _lock = new();
        private ProgramDefinition? _definition;
        private bool _running;
        private int _pid = 1000;

        /// <summary>The identity of what runs now, or null.</summary>
        public string? RunningIdentity
        {
            get
            {
                lock (_lock)
                {
                    return _running ? _definition?.Hash : null;
                }
            }
        }

        public Task ApplyAsync(ProgramDefinition definition, bool run)
        {
            lock (_lock)
            {
                if (run && (!_running || _definition?.Hash != definition.Hash))
                {
                    _pid++;
                }
                _definition = definition;
                _running = run;
            }
            return Task.CompletedTask;
        }

        public Task RemoveAsync(string app)
        {
            lock (_lock)
            {
                _definition = null;
                _running = false;
            }
            return Task.CompletedTask;
        }

        public Task<AppProcessInfo?> StatusAsync(string app)
        {
            lock (_lock)
            {
                if (_definition is not { } d)
                {
                    return Task.FromResult<AppProcessInfo?>(null);
                }
                var status = new ProgramStatus
                {
                    Name = d.Name,
                    State = _running ? "running" : "stopped",
                    Pid = _running ? _pid : null,
                    Environment = d.Environment.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal),
                };
                return Task.FromResult<AppProcessInfo?>(new AppProcessInfo(status, d.Hash));
            }
        }
    }

    /// <summary>Hooks that succeed, except 1.2.0's post_start.</summary>
    private sealed class FakeHooks : IHookRunner
    {
        public Task<HookResult> RunAsync(HookRun run, Action<int, long>? started, CancellationToken cancellationToken)
        {
            var fails = run.Step == "post_start" && run.Environment["BELAY_VERSION"] == "1.2.0";
            return Task.FromResult(new HookResult(fails ? 1 : 0, false, fails ? "post_start: the cache did not warm\n" : "", TimeSpan.Zero));
        }
    }

    /// <summary>The archives, "downloaded" with the same durable writes as the real downloader.</summary>
    private sealed class LocalArtifacts(Dictionary<string, (string Archive, AppArtifact Artifact)> archives) : IArtifactSource
    {
        public Task<string> FetchAsync(string app, string version, AppArtifact artifact, string folder, CancellationToken cancellationToken)
        {
            var target = Path.Combine(folder, $".{app}-{version}.{Guid.NewGuid():N}.tar.gz");
            AtomicFile.Copy(archives[version].Archive, target, AtomicFile.OwnerOnly);
            return Task.FromResult(target);
        }
    }

    private sealed class PlainSecrets : ISecretResolver
    {
        public IReadOnlyDictionary<string, string> Resolve(string app, AppSettings settings) =>
            settings.Env.ToDictionary(e => e.Name, e => e.Value ?? "", StringComparer.Ordinal);
    }

    private sealed class NullLog : IDeployLog
    {
        public void Write(string app, string message, bool warning)
        {
        }

        public void Output(string app, string text)
        {
        }
    }
}
