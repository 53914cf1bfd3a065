namespace Belay.Core.Install;

/// <summary>
/// Refuses to write into an installation through a link someone planted. Belay never makes a
/// symbolic link (or a Windows junction) inside an installation, so one there was made by
/// someone else, and writing through it would put root's binaries (versions/&lt;v&gt;/belay-agent,
/// bin/belay), its downloads or its state wherever that someone chose. Checked before anything
/// is written, by install, by staging (the agent and belay update) and by the keeper and the
/// agent as they start; `belay doctor` reports the same. The folders checked are every folder
/// Belay writes into that lies inside another folder of the installation: bin, versions and each
/// version, and for a --prefix install etc, var and log; the downloads, the programs' state and
/// their logs. The installation's own top folders (the --prefix itself, /opt/belay, /etc/belay,
/// ~/.config/belay, ...) are where the operator or the system put them, and may be links.
/// </summary>
public static class LayoutGuard
{
    /// <summary>The folders Belay writes into that are checked, outermost first.</summary>
    public static IReadOnlyList<string> Folders(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var roots = new[] { layout.BinRoot, layout.ConfigDir, layout.StateDir, layout.LogDir }.Select(Full).ToList();
        var folders = new List<string>();
        void Add(string path)
        {
            var full = Full(path);
            // A folder that is one of the top folders of the installation, and inside none of the others, is not checked.
            if (roots.Contains(full, StringComparer.Ordinal) && !roots.Any(r => r != full && IsInside(full, r)))
            {
                return;
            }
            if (!folders.Contains(full, StringComparer.Ordinal))
            {
                folders.Add(full);
            }
        }
        Add(layout.BinRoot);
        Add(Path.GetDirectoryName(layout.BelayExe)!);
        Add(layout.VersionsDir);
        Add(layout.ConfigDir);
        Add(layout.StateDir);
        Add(layout.DownloadsDir);
        Add(Path.Combine(layout.StateDir, "programs"));
        Add(layout.LogDir);
        Add(Path.Combine(layout.LogDir, "programs"));
        return folders;
    }

    /// <summary>Every problem: a checked folder that is a link, or a file where a folder belongs; a version folder (or a file in it) that is a link.</summary>
    public static IReadOnlyList<string> Problems(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var problems = new List<string>();
        foreach (var folder in Folders(layout))
        {
            if (Describe(folder, expectFolder: true) is { } problem)
            {
                problems.Add(problem);
            }
        }
        if (Directory.Exists(layout.VersionsDir) && !IsLink(layout.VersionsDir))
        {
            foreach (var entry in SafeEntries(layout.VersionsDir))
            {
                if (IsLink(entry))
                {
                    problems.Add(Describe(entry, expectFolder: true)!);
                }
                else if (Directory.Exists(entry))
                {
                    problems.AddRange(SafeEntries(entry).Where(IsLink).Select(f => Describe(f, expectFolder: false)!));
                }
            }
        }
        return problems;
    }

    /// <summary>Throws (exit 1) when <see cref="Problems"/> finds any: each link, where it points, and what to remove.</summary>
    public static void Check(InstallLayout layout)
    {
        var problems = Problems(layout);
        if (problems.Count > 0)
        {
            throw new BelayException(
                $"refusing to write into this installation: {string.Join("; ", problems)}. Belay never makes a link there, so someone else did, " +
                "and writing through it would put Belay's files where they chose. Remove it (and check what it pointed at), then run the command again");
        }
    }

    private static string? Describe(string path, bool expectFolder)
    {
        FileSystemInfo info = new FileInfo(path);
        if (!info.Exists)
        {
            info = new DirectoryInfo(path);
        }
        if (!info.Exists && info.LinkTarget is null)
        {
            return null; // not there yet: Belay makes it
        }
        if (info.LinkTarget is { } target)
        {
            return $"{path} is a symbolic link to {target} (remove it: rm {Quote(path)})";
        }
        if (expectFolder && info is FileInfo { Exists: true })
        {
            return $"{path} is a file where Belay keeps a folder (move it away)";
        }
        return null;
    }

    private static bool IsLink(string path) => new FileInfo(path).LinkTarget is not null;

    private static List<string> SafeEntries(string folder)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries(folder).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static string Full(string path) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));

    private static bool IsInside(string path, string folder) =>
        path.StartsWith(folder + Path.DirectorySeparatorChar, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    private static string Quote(string path) => path.Contains(' ', StringComparison.Ordinal) ? $"'{path}'" : path;
}
