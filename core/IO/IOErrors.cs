using System.Globalization;

namespace Belay.Core.IO;

/// <summary>
/// Says what an I/O error was in our own words: a full disk (or quota) with the folder and the
/// space left, a read-only file system, or else the system's own text (strerror, which NativeAOT
/// keeps). An IOException from the runtime on Unix carries the raw errno in its HResult.
/// </summary>
public static class IOErrors
{
    private const int ENoSpc = 28;
    private const int ERoFs = 30;
    private const int EDQuot = 122;
    private const int WindowsDiskFull = unchecked((int)0x80070070);
    private const int WindowsHandleDiskFull = unchecked((int)0x80070027);

    /// <summary>True when <paramref name="e"/> means the disk (or the user's quota) is full.</summary>
    public static bool IsDiskFull(Exception e) =>
        e is IOException io && (OperatingSystem.IsWindows()
            ? io.HResult is WindowsDiskFull or WindowsHandleDiskFull
            : io.HResult is ENoSpc || (OperatingSystem.IsLinux() && io.HResult == EDQuot));

    /// <summary>A short description of <paramref name="e"/>: "no space left on device", "read-only file system", or the system's text.</summary>
    public static string Describe(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (IsDiskFull(e))
        {
            return "no space left on device";
        }
        if (!OperatingSystem.IsWindows() && e is IOException { HResult: ERoFs })
        {
            return "read-only file system";
        }
        // Never the runtime's message: under NativeAOT it can be a resource key (IO_FileExists_Name).
        return SystemErrors.Describe(e);
    }

    /// <summary>
    /// What a failed write of <paramref name="path"/> means for an operator: for a full disk, "the disk
    /// holding FOLDER is full (N bytes free): writing PATH failed", else "cannot write PATH: …".
    /// </summary>
    public static string DescribeWrite(Exception e, string path)
    {
        ArgumentNullException.ThrowIfNull(e);
        ArgumentNullException.ThrowIfNull(path);
        if (!IsDiskFull(e))
        {
            return $"cannot write {path}: {Describe(e)}";
        }
        var folder = Path.GetDirectoryName(Path.GetFullPath(path)) ?? path;
        return $"the disk holding {folder} is full ({FreeSpace(folder)}): writing {path} failed";
    }

    /// <summary>The path the runtime put in an I/O error's message (" : 'PATH'"), or null.</summary>
    public static string? PathIn(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var message = e.Message;
        var at = message.IndexOf(" : '", StringComparison.Ordinal);
        return at > 0 && message.EndsWith('\'') && message.Length > at + 5 ? message[(at + 4)..^1] : null;
    }

    /// <summary>"N bytes free", "12.5 MB free of 1.0 GB", or "free space unknown".</summary>
    public static string FreeSpace(string folder)
    {
        try
        {
            var drive = new DriveInfo(folder);
            return $"{Size(drive.AvailableFreeSpace)} free of {Size(drive.TotalSize)}";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return "free space unknown";
        }
    }

    private static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes.ToString(CultureInfo.InvariantCulture)} bytes",
        < 1024 * 1024 => $"{(bytes / 1024.0).ToString("0.#", CultureInfo.InvariantCulture)} KB",
        < 1024L * 1024 * 1024 => $"{(bytes / (1024.0 * 1024)).ToString("0.#", CultureInfo.InvariantCulture)} MB",
        _ => $"{(bytes / (1024.0 * 1024 * 1024)).ToString("0.#", CultureInfo.InvariantCulture)} GB",
    };
}
