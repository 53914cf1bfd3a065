namespace Belay.Core.IO;

/// <summary>
/// Free space checks before a write that could fill a volume (an app archive, an unpacked
/// release): refusing up front with the numbers beats failing half-way with ENOSPC and a
/// partial tree to clean up. The figure is what an unprivileged writer may use (statvfs's
/// f_bavail on Unix), read through <see cref="DriveInfo"/>, which accepts any folder on Unix.
/// </summary>
public static class DiskSpace
{
    /// <summary>Bytes available to this process on the volume that holds <paramref name="folder"/>, or null when the system cannot tell.</summary>
    public static long? Available(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        try
        {
            return new DriveInfo(Path.GetFullPath(folder)).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>
    /// Throws when the volume of <paramref name="folder"/> has fewer than <paramref name="bytes"/>
    /// available, saying what needed the room (<paramref name="what"/>), how much is free and where.
    /// When the system cannot tell, the write goes ahead (and its own errors stay clear).
    /// </summary>
    public static void Require(string folder, long bytes, string what)
    {
        if (Available(folder) is { } free && free < bytes)
        {
            throw new BelayException($"not enough disk space for {what}: {Format(bytes)} needed, {Format(free)} available on the volume of {Path.GetFullPath(folder)}; free some space and the next poll tries again");
        }
    }

    private static string Format(long bytes) =>
        bytes >= 10L * 1024 * 1024 ? $"{bytes / (1024 * 1024)} MiB" : bytes >= 10 * 1024 ? $"{bytes / 1024} KiB" : $"{bytes} bytes";
}
