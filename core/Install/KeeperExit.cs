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
    /// Waits up to <paramref name="grace"/> for the keeper named by <see cref="InstallLayout.KeeperPidFile"/> to exit,
    /// then ends it with its process tree. Returns false when no keeper of this installation was running.
    /// </summary>
    public static bool WaitOrEnd(InstallLayout layout, TimeSpan grace, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(say);
        if (ReadPid(layout.KeeperPidFile) is not { } pid || pid == Environment.ProcessId)
        {
            return false;
        }
        Process process;
        try
        {
            process = Process.GetProcessById(pid);
        }
        catch (ArgumentException)
        {
            return false; // gone already
        }
        using (process)
        {
            if (!IsUnder(ImageOf(process), layout.BinRoot))
            {
                return false; // the pid file outlived its keeper and the pid went to another program
            }
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
