namespace Belay.Serving;

/// <summary>
/// The feed directory, and the one place that maps checked request segments to a file on
/// disk. Every symbolic link on the way is resolved by hand (a realpath that also runs on
/// Windows), and a file whose real path is not under the root's real path is refused: a
/// symlink may point anywhere inside the feed, never out of it.
///
/// The directory itself is resolved again at every request: when it is a link, the feed is
/// whatever the link points at when the request arrives, so replacing the link (a rename of a
/// new link over it) switches the whole feed between two requests, never within one. The hub
/// publishes a pushed feed that way (hub/Feed/FeedPublications.cs).
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

    private readonly string directory;

    private FeedRoot(string directory)
    {
        this.directory = directory;
    }

    /// <summary>The root with every link resolved, as it is now.</summary>
    public string? RealPath => RealPathOfDirectory(directory);

    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    public static FeedRoot Open(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var full = Path.GetFullPath(directory);
        if (RealPathOfDirectory(full) is null)
        {
            throw new DirectoryNotFoundException($"feed directory '{directory}' does not exist");
        }
        return new FeedRoot(full);
    }

    private static string? RealPathOfDirectory(string full)
    {
        var real = RealPathOf(Path.GetPathRoot(full)!, Components(full[Path.GetPathRoot(full)!.Length..]));
        return real is null || !Directory.Exists(real) ? null : Path.TrimEndingDirectorySeparator(real);
    }

    /// <summary>The real path of the regular file the segments name, or null with the reason
    /// ("not found", "directory", "symlink leaves the feed", "symlink loop", "no feed").</summary>
    public string? Resolve(IReadOnlyList<string> segments, out string reason)
    {
        var root = RealPath;
        if (root is null)
        {
            reason = "no feed";
            return null;
        }
        var real = RealPathOf(root, segments);
        if (real is null)
        {
            reason = "symlink loop";
            return null;
        }
        if (!IsInside(root, real))
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

    private static bool IsInside(string root, string path) =>
        path.Length > root.Length
        && path.StartsWith(root, PathComparison)
        && (path[root.Length] == Path.DirectorySeparatorChar || root.EndsWith(Path.DirectorySeparatorChar));

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
