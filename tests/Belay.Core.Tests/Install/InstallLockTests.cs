using System.Diagnostics;
using Belay.Core.Install;
using Belay.TestSupport;

namespace Belay.Core.Tests.Install;

/// <summary>One install or update at a time; the second is told who holds the lock.</summary>
public sealed class InstallLockTests
{
    [Fact]
    public void ASecondHolderIsRefusedWithTheFirstOnesPidUntilItLetsGo()
    {
        using var dir = new TempDir();
        var layout = InstallLayout.For(InstallScope.User, dir.Combine("fresh", "prefix"));
        using (InstallLock.Acquire(layout, "install"))
        {
            var e = Assert.Throws<BelayException>(() => InstallLock.Acquire(layout, "update"));
            Assert.Equal(ExitCodes.Error, e.ExitCode);
            Assert.Contains($"another belay install/update is running (pid {Environment.ProcessId})", e.Message, StringComparison.Ordinal);
            Assert.Contains("then run belay update again", e.Message, StringComparison.Ordinal);
            Assert.Null(InstallLock.TryAcquire(layout, out var holder));
            Assert.Equal(Environment.ProcessId, holder);
        }
        using var again = InstallLock.Acquire(layout, "update");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(layout.StateDir));
    }

    [Fact]
    public void ALockHeldByAnotherProcessIsSeenAndReleasedWhenItDies()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("flock through sh is for Unix");
        }
        ExternalTool.Require("flock", "util-linux");
        using var dir = new TempDir();
        var layout = InstallLayout.For(InstallScope.User, dir.Combine("prefix"));
        using (InstallLock.Acquire(layout, "install"))
        {
        }
        // Another process (flock(1), as .NET's FileShare.None takes it) holds it; --no-fork: the lock dies with it.
        using var holder = Process.Start(new ProcessStartInfo("flock", ["--no-fork", "-x", InstallLock.PathOf(layout), "sleep", "30"]))!;
        var deadline = Stopwatch.StartNew();
        while (InstallLock.TryAcquire(layout, out _) is { } mine && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            mine.Dispose();
            Thread.Sleep(50);
        }
        Assert.Throws<BelayException>(() => InstallLock.Acquire(layout, "install"));
        holder.Kill();
        holder.WaitForExit();
        using var after = InstallLock.Acquire(layout, "install");
    }
}
