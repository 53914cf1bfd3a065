using System.Diagnostics;
using Belay.Core.Install;
using Belay.TestSupport;

namespace Belay.Core.Tests.Install;

/// <summary>
/// The uninstall waits for the keeper's process itself, not for its service manager's word, and ends it after the
/// grace; a pid file whose pid went to another program is left alone. A copy of sleep plays the keeper.
/// </summary>
public sealed class KeeperExitTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly InstallLayout _layout;
    private readonly List<Process> _started = [];

    public KeeperExitTests()
    {
        _layout = InstallLayout.For(InstallScope.User, _dir.Combine("prefix"));
        Directory.CreateDirectory(_layout.StateDir);
        Directory.CreateDirectory(Path.GetDirectoryName(_layout.KeeperExe)!);
    }

    public void Dispose()
    {
        foreach (var p in _started)
        {
            try
            {
                p.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
            p.Dispose();
        }
        _dir.Dispose();
    }

    private Process Start(string exe, string seconds)
    {
        var p = Process.Start(new ProcessStartInfo(exe, seconds) { UseShellExecute = false })!;
        _started.Add(p);
        File.WriteAllText(_layout.KeeperPidFile, p.Id + "\n");
        return p;
    }

    private Process StartKeeper(string seconds)
    {
        File.Copy(SleepPath(), _layout.KeeperExe, overwrite: true);
        File.SetUnixFileMode(_layout.KeeperExe, (UnixFileMode)0b111_101_101);
        return Start(_layout.KeeperExe, seconds);
    }

    private static string SleepPath()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("sleep plays the keeper on Unix");
        }
        return File.Exists("/usr/bin/sleep") ? "/usr/bin/sleep" : "/bin/sleep";
    }

    [Fact]
    public void AKeeperThatDoesNotExitWithinTheGraceIsEndedAndSaidSo()
    {
        var keeper = StartKeeper("60");
        var said = new List<string>();
        var watch = Stopwatch.StartNew();
        Assert.True(KeeperExit.WaitOrEnd(_layout, TimeSpan.FromSeconds(1), said.Add));
        Assert.True(keeper.HasExited, "the keeper is still running");
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(30));
        var line = Assert.Single(said);
        Assert.Contains($"the keeper (pid {keeper.Id}) is still running 1 s after it was asked to stop; ending it and its agent", line, StringComparison.Ordinal);
    }

    [Fact]
    public void AKeeperThatExitsWithinTheGraceIsWaitedForNotEnded()
    {
        var keeper = StartKeeper("1");
        var said = new List<string>();
        Assert.True(KeeperExit.WaitOrEnd(_layout, TimeSpan.FromSeconds(30), said.Add));
        Assert.True(keeper.HasExited);
        Assert.Equal(0, keeper.ExitCode); // it ran to its end: nobody killed it
        Assert.Empty(said);
    }

    [Fact]
    public void APidThatAnotherProgramHoldsNowIsLeftAlone()
    {
        var other = Start(SleepPath(), "60"); // not under the installation's BinRoot
        Assert.False(KeeperExit.WaitOrEnd(_layout, TimeSpan.FromSeconds(1), _ => Assert.Fail("it spoke")));
        Assert.False(other.HasExited, "a program that is not the keeper was ended");
    }

    [Fact]
    public void NoPidFileOrAGonePidIsNothingToWaitFor()
    {
        _ = SleepPath();
        Assert.False(KeeperExit.WaitOrEnd(_layout, TimeSpan.FromSeconds(1), _ => Assert.Fail("it spoke")));
        var gone = StartKeeper("0");
        gone.WaitForExit();
        Assert.False(KeeperExit.WaitOrEnd(_layout, TimeSpan.FromSeconds(1), _ => Assert.Fail("it spoke")));
        File.WriteAllText(_layout.KeeperPidFile, "not a pid\n");
        Assert.False(KeeperExit.WaitOrEnd(_layout, TimeSpan.FromSeconds(1), _ => Assert.Fail("it spoke")));
    }

    [Fact]
    public void AKeeperRunByAnEmulatorIsKnownByTheFileItsCommandLineStarts()
    {
        // qemu-user through binfmt_misc: the executable is the emulator, the command line is "emulator FILE args";
        // sh running a script under BinRoot has that shape.
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("/proc/PID/cmdline is Linux's");
        }
        var script = Path.Combine(_layout.BinRoot, "belay-keeper.sh");
        File.WriteAllText(script, "sleep \"$1\"\nexit $?\n"); // not the last command: no shell execs it in its own place
        var keeper = Start("/bin/sh", $"{script} 60");
        Assert.NotNull(KeeperExit.Find(_layout));
        var said = new List<string>();
        Assert.True(KeeperExit.WaitOrEnd(_layout, TimeSpan.FromSeconds(1), said.Add));
        Assert.True(keeper.HasExited, "the emulated keeper is still running");
        Assert.Single(said);
    }

    [Fact]
    public void AKeeperWhoseArgvZeroIsUnderBinRootIsKnownByIt()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/bin/bash"))
        {
            Assert.Skip("bash's exec -a on Linux");
        }
        var keeper = Start("/bin/bash", $"-c \"exec -a {_layout.KeeperExe} {SleepPath()} 2\"");
        // bash has exec'd sleep with its argv[0] once the command line says so.
        var deadline = Stopwatch.StartNew();
        while (!CommandLine(keeper.Id).StartsWith(_layout.KeeperExe + "\0", StringComparison.Ordinal) && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            Thread.Sleep(10);
        }
        Assert.True(KeeperExit.WaitOrEnd(_layout, TimeSpan.FromSeconds(30), _ => Assert.Fail("it spoke")));
        Assert.True(keeper.HasExited);
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (IOException)
        {
            return "";
        }
    }

    [Fact]
    public void AKeeperHoldingTheLockIsWaitedForEvenWhenItsPidIsNotKnown()
    {
        var other = Start(SleepPath(), "60"); // the pid file names a program that is not the keeper
        using (var held = new FileStream(_layout.KeeperLockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            Assert.True(KeeperExit.IsRunning(_layout));
            Assert.Null(KeeperExit.Find(_layout));
            var e = Assert.Throws<BelayException>(() => KeeperExit.WaitOrEnd(_layout, TimeSpan.FromSeconds(0.5), _ => { }));
            Assert.Contains("still holds", e.Message, StringComparison.Ordinal);
            Assert.Contains("run the uninstall again", e.Message, StringComparison.Ordinal);
        }
        Assert.False(KeeperExit.IsRunning(_layout));
        Assert.False(KeeperExit.WaitOrEnd(_layout, TimeSpan.FromSeconds(1), _ => Assert.Fail("it spoke")));
        Assert.False(other.HasExited, "a program that is not the keeper was ended");
    }

    [Fact]
    public void TheLockLetGoWithinTheGraceEndsTheWait()
    {
        _ = SleepPath();
        var held = new FileStream(_layout.KeeperLockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        using var letGo = new Timer(_ => held.Dispose(), null, TimeSpan.FromSeconds(0.5), Timeout.InfiniteTimeSpan);
        Assert.True(KeeperExit.WaitOrEnd(_layout, TimeSpan.FromSeconds(30), _ => Assert.Fail("it spoke")));
        Assert.False(KeeperExit.IsRunning(_layout));
    }
}
