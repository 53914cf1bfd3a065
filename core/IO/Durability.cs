namespace Belay.Core.IO;

/// <summary>
/// The numbered crash points: every persisted step of install, update, switch, trial, commit
/// and rollback, reached just after the step's write returned. A step's write is durable by
/// then (its file flushed, the rename flushed in its folder), so a crash or power loss at a
/// point leaves either the step done, or, between two points, the step before it; the
/// numbers are stable (docs/security.md lists them) and a new point takes the next one.
/// Staging is shared by install, `belay update` and the agent, so its points are reached once
/// per staged version; an app's deploy reaches its points once per journal write.
/// </summary>
public enum CrashPoint
{
    /// <summary>The artifact is downloaded into the state folder's downloads/, size and SHA-256 checked.</summary>
    StageDownloaded = 1,

    /// <summary>The archive is extracted into a private folder beside versions/&lt;v&gt;, not yet renamed.</summary>
    StageExtracted = 2,

    /// <summary>The private folder is renamed to versions/&lt;v&gt;: the version is staged.</summary>
    StageRenamed = 3,

    /// <summary>Install: bin/belay is copied.</summary>
    InstallBootstrapperCopied = 4,

    /// <summary>Install: the host id is written.</summary>
    InstallHostIdWritten = 5,

    /// <summary>Install: agent.json (the manifest sequence seen) is written.</summary>
    InstallAgentStatusWritten = 6,

    /// <summary>Install: config.json is written.</summary>
    InstallConfigWritten = 7,

    /// <summary>Install: state.json is written; from here on the host is installed.</summary>
    InstallStateWritten = 8,

    /// <summary>Keeper: a switch is persisted as a trial with its first try counted, before the old agent stops.</summary>
    SwitchPersisted = 9,

    /// <summary>Keeper: the next try of a trial is counted, before that try starts.</summary>
    TrialTryCounted = 10,

    /// <summary>Keeper: the trial version reported ready and is committed as current.</summary>
    CommitPersisted = 11,

    /// <summary>Keeper: a trial that used up its tries is rolled back and its version marked bad.</summary>
    TrialRolledBack = 12,

    /// <summary>Keeper: an operator's rollback (belay rollback) is persisted.</summary>
    OperatorRollbackPersisted = 13,

    /// <summary>Install again with another version while no keeper runs: the trial it will try is persisted.</summary>
    ReinstallTrialPersisted = 14,

    /// <summary>Deploy: a changed desired state of an app (the group document) is journaled.</summary>
    DeployDesiredRecorded = 15,

    /// <summary>Deploy: the next step of an app's deploy is journaled, before its effect (once per step).</summary>
    DeployStepJournaled = 16,

    /// <summary>Deploy: the verified app archive is extracted into a private folder, not yet renamed.</summary>
    DeployExtracted = 17,

    /// <summary>Deploy: the private folder is renamed to releases/&lt;app&gt;/&lt;version&gt;.</summary>
    DeployUnpacked = 18,

    /// <summary>Deploy: the end of a deploy is journaled (a release committed, stopped, started or removed).</summary>
    DeployCommitted = 19,

    /// <summary>Deploy: a failed deploy is journaled (its revision bad or its retry due, the previous release back).</summary>
    DeployFailed = 20,
}

/// <summary>
/// What the file layer reports to a test: each creation, rename, deletion and flush of a
/// file or folder on the paths of a persisted step, and each <see cref="CrashPoint"/>
/// reached. A test's observer models a disk that loses power (what was not flushed is
/// gone) and throws at the point it crashes at.
/// </summary>
public interface IDurabilityObserver
{
    void Created(string path, bool directory);

    void Renamed(string from, string to);

    void Deleted(string path);

    /// <summary>A file's data reached the disk (fsync).</summary>
    void FileSynced(string path);

    /// <summary>A folder's entries reached the disk (fsync of the folder).</summary>
    void DirectorySynced(string path);

    void Reached(CrashPoint point);
}

/// <summary>
/// The seam between the persisted steps and a test's crashing file system. Production code
/// never installs an observer: with none, every call here is the plain operation. The
/// observer is per async flow (<see cref="AsyncLocal{T}"/>), not process-wide, so tests
/// running in parallel do not see each other's writes, and nothing outside the process can
/// switch it on (no environment variable, no file).
/// </summary>
public static class Durability
{
    private static readonly AsyncLocal<IDurabilityObserver?> Observer = new();

    /// <summary>Reports this flow's file operations to <paramref name="observer"/> until disposed. For tests.</summary>
    public static IDisposable Observe(IDurabilityObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        var before = Observer.Value;
        Observer.Value = observer;
        return new Restore(before);
    }

    /// <summary>Marks <paramref name="point"/> as reached (a test may crash here).</summary>
    public static void Reach(CrashPoint point) => Observer.Value?.Reached(point);

    internal static void Created(string path, bool directory) => Observer.Value?.Created(Path.GetFullPath(path), directory);

    internal static void FileSynced(string path) => Observer.Value?.FileSynced(Path.GetFullPath(path));

    internal static void DirectorySynced(string path) => Observer.Value?.DirectorySynced(Path.GetFullPath(path));

    /// <summary>Creates <paramref name="path"/> and any missing parent, reporting each folder it made (outermost first).</summary>
    public static IReadOnlyList<string> CreateDirectory(string path, UnixFileMode? mode = null)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var missing = new List<string>();
        for (var dir = full; dir is not null && !Directory.Exists(dir); dir = Path.GetDirectoryName(dir))
        {
            missing.Add(dir);
        }
        missing.Reverse();
        foreach (var dir in missing)
        {
            if (mode is { } m && !OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(dir, m);
            }
            else
            {
                Directory.CreateDirectory(dir);
            }
            Created(dir, directory: true);
        }
        return missing;
    }

    /// <summary>File.Move, reported.</summary>
    public static void MoveFile(string from, string to, bool overwrite = false)
    {
        File.Move(from, to, overwrite);
        Observer.Value?.Renamed(Path.GetFullPath(from), Path.GetFullPath(to));
    }

    /// <summary>Directory.Move, reported.</summary>
    public static void MoveDirectory(string from, string to)
    {
        Directory.Move(from, to);
        Observer.Value?.Renamed(Path.GetFullPath(from), Path.GetFullPath(to));
    }

    /// <summary>File.Delete, reported.</summary>
    public static void DeleteFile(string path)
    {
        File.Delete(path);
        Observer.Value?.Deleted(Path.GetFullPath(path));
    }

    /// <summary>Directory.Delete (recursive), reported.</summary>
    public static void DeleteDirectory(string path)
    {
        Directory.Delete(path, recursive: true);
        Observer.Value?.Deleted(Path.GetFullPath(path));
    }

    private sealed class Restore(IDurabilityObserver? before) : IDisposable
    {
        public void Dispose() => Observer.Value = before;
    }
}
