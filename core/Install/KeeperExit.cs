using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace Belay.Core.Install;

/// <summary>
/// Makes sure the keeper of an installation has exited before its folders are removed. A service
/// manager's "stopped" is not the process's end (the state is the service's, the process exits after it; how long
/// Wine's StopServices waits was not established), and a keeper that is still
/// stopping its agent writes its log and state after the uninstall deleted their folders, which
/// brings the folders back. The keeper is found by its pid file and recognised by its executable
/// (under the installation's BinRoot), so a pid that another program now holds is left alone.
/// </summary>
public static class KeeperExit
{
    /// <summary>How long a keeper that is stopping gets before it is ended: it stops its agent, which stops its programs, each within its stop_timeout.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(35);

    /// <summary>
    /// Whether a keeper of this installation runs: it holds <see cref="InstallLayout.KeeperLockFile"/> for as long as it
    /// runs (the kernel lets go of the lock when the process ends, however it ends), so a stale pid file, a pid that
    /// went to another program or a keeper whose executable cannot be seen (emulated) does not mislead this.
    /// </summary>
    public static bool IsRunning(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        try
        {
            // Taking the lock for a moment is the only way to ask; a keeper starting in that moment tries again
            // (KeeperHost.TakeLock) before it believes another keeper holds it.
            using var probe = new FileStream(layout.KeeperLockFile, FileMode.Open, FileAccess.Read, FileShare.None);
            return false;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false; // no keeper ever ran here
        }
        catch (UnauthorizedAccessException)
        {
            using var keeper = Find(layout); // not ours to lock: the pid file and the process say it
            return keeper is not null;
        }
        catch (IOException)
        {
            return true; // held
        }
    }

    /// <summary>
    /// The keeper's process: the pid in <see cref="InstallLayout.KeeperPidFile"/>, when that process runs a file under
    /// the installation's BinRoot (its executable, or the file its command line starts, for a keeper run by an
    /// emulator such as qemu-user, whose executable is the emulator's). Null when there is none, so a pid that another
    /// program holds now is never signalled or waited for.
    /// </summary>
    public static Process? Find(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (ReadPid(layout.KeeperPidFile) is not { } pid || pid == Environment.ProcessId)
        {
            return null;
        }
        Process process;
        try
        {
            process = Process.GetProcessById(pid);
        }
        catch (ArgumentException)
        {
            return null; // gone already
        }
        if (IsUnder(ImageOf(process), layout.BinRoot) || CommandLineOf(pid).Any(arg => IsUnder(arg, layout.BinRoot)))
        {
            return process;
        }
        process.Dispose();
        return null;
    }

    /// <summary>
    /// Waits up to <paramref name="grace"/> for the keeper of this installation to exit, then ends it with its process
    /// tree. Returns false when no keeper of this installation was running.
    /// </summary>
    public static bool WaitOrEnd(InstallLayout layout, TimeSpan grace, Action<string> say)
    {
        using var process = Find(layout);
        return WaitOrEnd(layout, process, grace, say);
    }

    /// <summary><see cref="WaitOrEnd(InstallLayout, TimeSpan, Action{string})"/> for a keeper already <see cref="Find">found</see> (null: none was).</summary>
    public static bool WaitOrEnd(InstallLayout layout, Process? process, TimeSpan grace, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(say);
        if (process is null)
        {
            return WaitForLock(layout, grace);
        }
        var pid = process.Id;
        if (process.WaitForExit(grace))
        {
            return true;
        }
        say($"the keeper (pid {pid}) is still running {grace.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s after it was asked to stop; ending it and its agent");
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException)
        {
            // It exited meanwhile, or cannot be ended: the wait below says which.
        }
        if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            throw new BelayException($"the keeper (pid {pid}) could not be ended; end it (kill -9 {pid}, or taskkill /pid {pid} /t /f) and run the uninstall again");
        }
        return true;
    }

    /// <summary>
    /// A keeper whose process is not found (its pid file not written yet, or not readable) but which holds the lock:
    /// waited for by its lock. It cannot be ended without knowing its pid, so past the grace the caller is told.
    /// </summary>
    private static bool WaitForLock(InstallLayout layout, TimeSpan grace)
    {
        if (!IsRunning(layout))
        {
            return false;
        }
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < grace)
        {
            Thread.Sleep(100);
            if (!IsRunning(layout))
            {
                return true;
            }
        }
        throw new BelayException($"a keeper of this installation still holds {layout.KeeperLockFile} {grace.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s after it was asked to stop, and its process could not be told from {layout.KeeperPidFile}; end it (see `ps` for belay-keeper) and run the uninstall again");
    }

    /// <summary>The first two arguments of a process's command line (Linux): the file itself, or an emulator and then the file (binfmt_misc runs an interpreter so).</summary>
    private static string[] CommandLineOf(int pid)
    {
        if (!OperatingSystem.IsLinux())
        {
            return [];
        }
        try
        {
            return File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline").Split('\0', 3).Take(2).Where(a => a.Length > 0 && Path.IsPathFullyQualified(a)).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return []; // gone, or not ours to read
        }
    }

    /// <summary>The pid in a pid file (keeper.pid), or null when there is none, it cannot be read or it is not a pid.</summary>
    public static int? ReadPid(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0 ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? ImageOf(Process process)
    {
        try
        {
            return process.MainModule?.FileName;
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException or NotSupportedException)
        {
            return null; // exited, or not ours to inspect
        }
    }

    private static bool IsUnder(string? file, string root)
    {
        if (file is null)
        {
            return false;
        }
        var prefix = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root)) + Path.DirectorySeparatorChar;
        return Path.GetFullPath(file).StartsWith(prefix, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);
    }
}
