using System.Globalization;
using Belay.Core.IO;

namespace Belay.Core.Deploy;

/// <summary>
/// The release folders of an app on disk: releases/&lt;app&gt;/&lt;version&gt;/ for each installed
/// release, and private dot-named folders (a fetch's extraction, the extractor's own temporary
/// folder) that never hold a release anything runs.
/// </summary>
public static class ReleaseFolders
{
    public const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>The versions installed, newest first (by when their folder was written).</summary>
    public static IReadOnlyList<string> Installed(AppPaths paths, string app)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var dir = paths.Releases(app);
        if (!Directory.Exists(dir))
        {
            return [];
        }
        return [.. new DirectoryInfo(dir).EnumerateDirectories()
            .Where(d => !d.Name.StartsWith('.'))
            .OrderByDescending(d => d.LastWriteTimeUtc)
            .ThenByDescending(d => d.Name, StringComparer.Ordinal)
            .Select(d => d.Name)];
    }

    /// <summary>Deletes what an interrupted fetch or extraction left: every dot-named folder and file of the app's releases folder.</summary>
    public static void RemovePrivate(AppPaths paths, string app)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var dir = paths.Releases(app);
        if (!Directory.Exists(dir))
        {
            return;
        }
        foreach (var leftover in Directory.EnumerateDirectories(dir, ".*"))
        {
            Durability.DeleteDirectory(leftover);
        }
        foreach (var leftover in Directory.EnumerateFiles(dir, ".*"))
        {
            Durability.DeleteFile(leftover);
        }
    }

    /// <summary>Deletes a release that did not become current, and its private folder.</summary>
    public static void Discard(AppPaths paths, string app, string version)
    {
        ArgumentNullException.ThrowIfNull(paths);
        foreach (var dir in new[] { paths.Release(app, version), paths.Incoming(app, version) })
        {
            if (Directory.Exists(dir))
            {
                Durability.DeleteDirectory(dir);
            }
        }
        RemovePrivate(paths, app);
    }

    /// <summary>
    /// Deletes the oldest releases beyond <paramref name="keepReleases"/>, never one of
    /// <paramref name="keep"/> (current and previous); returns the versions deleted.
    /// </summary>
    public static IReadOnlyList<string> Prune(AppPaths paths, string app, IReadOnlyList<string> keep, int keepReleases)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(keep);
        var others = Installed(paths, app).Where(v => !keep.Contains(v, StringComparer.Ordinal)).ToList();
        var room = Math.Max(0, keepReleases - keep.Count);
        var removed = others.Skip(room).ToList();
        foreach (var version in removed)
        {
            Durability.DeleteDirectory(paths.Release(app, version));
        }
        if (removed.Count > 0)
        {
            AtomicFile.FlushDirectory(paths.Releases(app));
        }
        return removed;
    }
}

/// <summary>
/// state/apps/&lt;app&gt;.hook: the pid and start time of the hook that runs for an app, written
/// once it started and deleted once it ended, so that an agent that restarts can end a hook
/// (and its whole process group) that the agent before it left behind.
/// </summary>
public static class HookRecords
{
    public static void Save(string path, int pid, long startTime) =>
        AtomicFile.WriteAllText(path, string.Create(CultureInfo.InvariantCulture, $"{pid} {startTime}\n"), AtomicFile.OwnerOnly);

    public static (int Pid, long StartTime)? TryLoad(string path)
    {
        try
        {
            var parts = File.ReadAllText(path).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out var pid)
                && long.TryParse(parts[1], CultureInfo.InvariantCulture, out var start) ? (pid, start) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static void Delete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
