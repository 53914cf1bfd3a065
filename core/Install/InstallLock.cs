using System.Globalization;
using Belay.Core.IO;

namespace Belay.Core.Install;

/// <summary>
/// One writer of an installation's versions at a time: `belay install`, `belay update`,
/// `belay rollback`, `belay uninstall` and `belay doctor --repair` hold state/install.lock for
/// their whole run, and the agent holds it while it stages a version. Without it, two commands
/// at once deleted each other's downloads and raced to rename the same version folder
/// (a FileNotFoundException, "already exists"), and two installs into one fresh prefix both failed.
/// A second command is refused at once with the first one's pid; the agent skips that check
/// and tries again at the next one. The lock is an OS lock on the open file (flock on Unix, a
/// share lock on Windows), so a holder that dies releases it; the file itself stays (deleting it
/// would let two holders lock two different files), and install.pid beside it names the holder.
/// </summary>
public sealed class InstallLock : IDisposable
{
    private readonly FileStream _file;
    private readonly string _pidFile;

    private InstallLock(FileStream file, string pidFile)
    {
        _file = file;
        _pidFile = pidFile;
    }

    public static string PathOf(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return Path.Combine(layout.StateDir, "install.lock");
    }

    /// <summary>Takes the lock, or throws "another belay install/update is running (pid N)" (exit 1).</summary>
    /// <param name="what">The command taking it, for the message (install, update, …).</param>
    public static InstallLock Acquire(InstallLayout layout, string what) =>
        TryAcquire(layout, out var holder) ?? throw Busy(holder, what);

    /// <summary>The error for a lock another command holds.</summary>
    public static BelayException Busy(int? holder, string what) => new(
        $"another belay install/update is running (pid {holder?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}) on this installation; " +
        $"wait for it to finish, then run belay {what} again");

    /// <summary>Takes the lock, or returns null with the holder's pid (when it wrote one) in <paramref name="holder"/>.</summary>
    public static InstallLock? TryAcquire(InstallLayout layout, out int? holder)
    {
        ArgumentNullException.ThrowIfNull(layout);
        holder = null;
        var path = PathOf(layout);
        if (Path.GetDirectoryName(Path.GetFullPath(layout.StateDir)) is { } parent)
        {
            CreateFolder(parent, null);
        }
        CreateFolder(layout.StateDir, (UnixFileMode)0b111_000_000);
        FileStream file;
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
            };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = AtomicFile.OwnerOnly;
            }
            file = new FileStream(path, options);
        }
        catch (IOException) when (File.Exists(path))
        {
            // The holder writes its pid just after it takes the lock: give it a moment to.
            for (var i = 0; i < 20 && (holder = ReadHolder(layout)) is null; i++)
            {
                Thread.Sleep(50);
            }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException($"cannot take the lock {path}: {IOErrors.Describe(e)}", e);
        }
        try
        {
            // Beside the lock, not in it: a reader of the locked file would need a lock of its own (.NET takes one).
            AtomicFile.WriteAllText(PidFile(layout), Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n", AtomicFile.OwnerOnly);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The pid is only for the message of whoever comes second; the lock holds without it.
        }
        return new InstallLock(file, PidFile(layout));
    }

    private static string PidFile(InstallLayout layout) => Path.Combine(layout.StateDir, "install.pid");

    /// <summary>The pid the holder wrote, when that process still runs.</summary>
    private static int? ReadHolder(InstallLayout layout)
    {
        try
        {
            return int.TryParse(File.ReadAllText(PidFile(layout)).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && (OperatingSystem.IsWindows() || Posix.IsAlive(pid)) ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Lets go: install.pid goes first (a later holder writes its own), then the lock.</summary>
    public void Dispose()
    {
        try
        {
            if (File.Exists(_pidFile) && File.ReadAllText(_pidFile).Trim() == Environment.ProcessId.ToString(CultureInfo.InvariantCulture))
            {
                File.Delete(_pidFile);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        _file.Dispose();
    }

    /// <summary>Creates the lock's folder, or says which folder could not be made and what to do.</summary>
    private static void CreateFolder(string dir, UnixFileMode? mode)
    {
        try
        {
            AtomicFile.CreateDirectoryDurably(dir, mode);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new BelayException(ExitCodes.NeedsPrivileges,
                $"cannot create {dir}: {SystemErrors.Describe(e)}; choose a --prefix you may write to, or run it with sudo", e);
        }
        catch (IOException e)
        {
            throw new BelayException($"cannot create {dir}: {IOErrors.Describe(e)}{(File.Exists(dir) ? " (a file is in the way)" : "")}", e);
        }
    }
}
