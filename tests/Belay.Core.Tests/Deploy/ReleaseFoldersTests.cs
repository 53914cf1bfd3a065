using Belay.Core.Deploy;
using Belay.Core.Programs;
using Belay.TestSupport;

namespace Belay.Core.Tests.Deploy;

public sealed class ReleaseFoldersTests
{
    private static AppPaths Paths(TempDir dir) => new(dir.Combine("releases"), dir.Combine("state"), dir.Combine("log"));

    private static void Release(AppPaths paths, string version, int minutesAgo)
    {
        var dir = paths.Release("shop", version);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "belay-app.conf"), "[app]\nexec = x\n");
        Directory.SetLastWriteTimeUtc(dir, DateTime.UtcNow.AddMinutes(-minutesAgo));
    }

    [Fact]
    public void PruningKeepsTheNewestReleasesAndNeverTheCurrentOrPreviousOne()
    {
        using var dir = new TempDir();
        var paths = Paths(dir);
        Release(paths, "1.0.0", 50); // previous, and the oldest
        Release(paths, "1.1.0", 40);
        Release(paths, "1.2.0", 30);
        Release(paths, "1.3.0", 20);
        Release(paths, "1.4.0", 10); // current
        Directory.CreateDirectory(paths.Incoming("shop", "1.5.0"));

        var removed = ReleaseFolders.Prune(paths, "shop", ["1.4.0", "1.0.0"], keepReleases: 3);

        Assert.Equal(["1.2.0", "1.1.0"], removed);
        Assert.Equal(["1.4.0", "1.3.0", "1.0.0"], ReleaseFolders.Installed(paths, "shop"));
        Assert.True(Directory.Exists(paths.Incoming("shop", "1.5.0")), "a private folder is not a release and is not pruned");
    }

    [Fact]
    public void KeepReleasesOfOneStillKeepsTheCurrentAndThePreviousRelease()
    {
        using var dir = new TempDir();
        var paths = Paths(dir);
        Release(paths, "1.0.0", 30);
        Release(paths, "1.1.0", 20);
        Release(paths, "1.2.0", 10);
        Assert.Equal(["1.0.0"], ReleaseFolders.Prune(paths, "shop", ["1.2.0", "1.1.0"], keepReleases: 1));
        Assert.Equal(["1.2.0", "1.1.0"], ReleaseFolders.Installed(paths, "shop"));
    }

    [Fact]
    public void DiscardingARelease_RemovesItsFolderAndEveryPrivateLeftover()
    {
        using var dir = new TempDir();
        var paths = Paths(dir);
        Release(paths, "1.0.0", 10);
        Release(paths, "1.1.0", 5);
        Directory.CreateDirectory(paths.Incoming("shop", "1.1.0"));
        Directory.CreateDirectory(Path.Combine(paths.Releases("shop"), ".1.2.0.abcdef.extracting"));
        ReleaseFolders.Discard(paths, "shop", "1.1.0");
        Assert.Equal(["1.0.0"], Directory.EnumerateDirectories(paths.Releases("shop")).Select(Path.GetFileName));
    }

    [Fact]
    public void ASecretValueIsRedactedFromHookOutputAndAShortOneIsLeft()
    {
        Assert.Equal("the password is *** and again ***\n", HookOutput.Redact("the password is hunter22 and again hunter22\n", ["hunter22"]));
        Assert.Equal("pin 123\n", HookOutput.Redact("pin 123\n", ["123"]));
        // The longest first: a secret that contains another is hidden whole.
        Assert.Equal("*** / ***", HookOutput.Redact("abcdefgh / abcd", ["abcd", "abcdefgh"]));
        Assert.Equal("***", Secrets.Mask);
    }

    [Theory]
    [InlineData("exit 3", 3)]
    [InlineData("signal 9", 137)]
    [InlineData("exit unknown (ended while no agent ran)", null)]
    [InlineData("not started", null)]
    public void AnExitIsReportedAsAShellShowsIt(string exit, int? code) => Assert.Equal(code, DeployStepRunner.ExitCodeOf(exit));

    [Fact]
    public void TheStatusOfAnAppSaysWhichVersionItsProcessRuns()
    {
        var journal = new AppJournal
        {
            Name = "shop",
            Current = "1.0.0",
            Running = true,
            Desired = new AppTarget { Name = "shop", Version = "1.1.0" },
            Deploy = new DeployRecord { Kind = DeployKind.Install, Version = "1.1.0", Revision = "r", Steps = [DeployStep.Health], Step = DeployStep.Health, From = "1.0.0" },
        };
        var process = new AppProcessInfo(new ProgramStatus { Pid = 42, State = "running", Environment = new() { ["BELAY_VERSION"] = "1.1.0" } }, "id");
        var live = AppStatus.From(journal, process, live: true);
        Assert.Equal(("deploying", "health", "1.1.0", "1.1.0", 42), (live.State, live.Step, live.Running, live.Desired, live.Pid));
        var fromDisk = AppStatus.From(journal with { Deploy = null }, null, live: false);
        Assert.Equal(("converged", "1.0.0"), (fromDisk.State, fromDisk.Running));
    }
}
