namespace Belay.Serving;

/// <summary>
/// The feed directory, and the one place that maps checked request segments to a file on
/// disk. Every symbolic link on the way is resolved by hand (a realpath that also runs on
/// Windows), and a file whose real path is not under the root's real path is refused: a
/// symlink may point anywhere inside the feed, never out of it.
///
/// Hazard: the check and the open are two steps, so someone who can swap links inside the
/// feed between them could still win a race. The feed is the publisher's own directory; this
/// guards against links that leave it by mistake, not against its owner.
/// </summary>
internal sealed class FeedRoot
{
    private const int MaxLinks = 40; // as Linux's MAXSYMLINKS

    private static readonly StringComparison PathComparison =
        OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    private FeedRoot(string realPath)
    {
        RealPath = realPath;
    }

    /// <summary>The root with every link resolved.</summary>
    public string RealPath { get; }

    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    public static FeedRoot Open(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var full = Path.GetFullPath(directory);
        var real = RealPathOf(Path.GetPathRoot(full)!, Components(full[Path.GetPathRoot(full)!.Length..]));
        if (real is null || !Directory.Exists(real))
        {
            throw new DirectoryNotFoundException($"feed directory '{directory}' does not exist");
        }
        return new FeedRoot(Path.TrimEndingDirectorySeparator(real));
    }

    /// <summary>The real path of the regular file the segments name, or null with the reason
    /// ("not found", "directory", "symlink leaves the feed", "symlink loop").</summary>
    public string? Resolve(IReadOnlyList<string> segments, out string reason)
    {
        var real = RealPathOf(RealPath, segments);
        if (real is null)
        {
            reason = "symlink loop";
            return null;
        }
        if (!IsInside(real))
        {
            reason = "symlink leaves the feed";
            return null;
        }
        if (Directory.Exists(real))
        {
            reason = "directory";
            return null;
        }
        if (!File.Exists(real))
        {
            reason = "not found";
            return null;
        }
        reason = "";
        return real;
    }

    private bool IsInside(string path) =>
        path.Length > RealPath.Length
        && path.StartsWith(RealPath, PathComparison)
        && (path[RealPath.Length] == Path.DirectorySeparatorChar || RealPath.EndsWith(Path.DirectorySeparatorChar));

    /// <summary>Walks <paramref name="components"/> from <paramref name="start"/> (a real path),
    /// replacing each link by its target as realpath(3) does. A missing component ends the
    /// links: the rest is appended as is. Null on a link loop.</summary>
    private static string? RealPathOf(string start, IEnumerable<string> components)
    {
        var pending = new Stack<string>(components.Reverse());
        var current = start;
        var links = 0;
        var exists = true;
        while (pending.Count > 0)
        {
            var name = pending.Pop();
            if (name is "" or ".")
            {
                continue;
            }
            if (name == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }
            var next = Path.Join(current, name);
            string? target = null;
            if (exists)
            {
                var info = new FileInfo(next);
                exists = info.Exists || Directory.Exists(next);
                target = exists ? info.LinkTarget : null;
            }
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++links > MaxLinks)
            {
                return null;
            }
            if (Path.IsPathRooted(target))
            {
                current = Path.GetPathRoot(target)!;
                target = target[current.Length..];
            }
            foreach (var part in Components(target).Reverse())
            {
                pending.Push(part);
            }
        }
        return current;
    }

    private static string[] Components(string path) =>
        path.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);
}
