using Belay.Core.IO;

namespace Belay.TestSupport;

/// <summary>Thrown where a <see cref="CrashingFileSystem"/> crashes: the process "dies" there.</summary>
public sealed class CrashException(CrashPoint point, int occurrence)
    : Exception($"crashed at crash point {(int)point} {point} (occurrence {occurrence})")
{
    public CrashPoint Point { get; } = point;
    public int Occurrence { get; } = occurrence;
}

/// <summary>
/// A disk that loses power, for the folder tree under one root. It watches the real file
/// operations that the persisted steps report (<see cref="Durability"/>) and keeps, beside
/// the real tree, the tree that would survive a power loss, with POSIX's rules and nothing
/// kinder:
/// <list type="bullet">
/// <item>a file's data survives only once the file is flushed (fsync); a file created and
///   never flushed comes back empty;</item>
/// <item>an entry of a folder (a file or folder created, renamed in or out, deleted) changes
///   only once that folder is flushed; until then the old entry, or none, comes back;</item>
/// <item>an operation nobody reported never happened.</item>
/// </list>
/// At the <see cref="CrashAt"/> point (its <see cref="CrashOccurrence"/>th time) it throws a
/// <see cref="CrashException"/> and stops watching (what the dying process does next, its
/// catch and finally blocks, never reaches the disk); <see cref="PowerLoss"/> then replaces
/// the real tree with the one that survived.
/// </summary>
public sealed class CrashingFileSystem : IDurabilityObserver
{
    private readonly Lock _lock = new();
    private readonly string _root;
    private readonly Node _rootNode;
    private readonly List<Node> _pending = [];

    /// <summary>Watches <paramref name="root"/>, an existing folder whose content counts as on disk.</summary>
    public CrashingFileSystem(string root)
    {
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        _rootNode = Snapshot(_root);
    }

    public CrashPoint? CrashAt { get; init; }

    public int CrashOccurrence { get; init; } = 1;

    /// <summary>Called at the crash, before the throw: the test notes what the step promised.</summary>
    public Action<CrashPoint>? BeforeCrash { get; init; }

    /// <summary>Every point reached, in order.</summary>
    public List<CrashPoint> Points { get; } = [];

    public bool Crashed { get; private set; }

    public void Created(string path, bool directory)
    {
        lock (_lock)
        {
            if (!Watching(path))
            {
                return;
            }
            ReadPending();
            if (ParentOf(path, create: true) is { } parent)
            {
                parent.Entries[Path.GetFileName(path)] = new Node(directory);
            }
        }
    }

    public void Renamed(string from, string to)
    {
        lock (_lock)
        {
            if (Crashed)
            {
                return;
            }
            ReadPending();
            var node = Resolve(from);
            if (node is not null && ParentOf(from, create: false) is { } oldParent)
            {
                oldParent.Entries.Remove(Path.GetFileName(from));
            }
            if (Inside(to) && ParentOf(to, create: true) is { } parent)
            {
                // Moved in from outside, or never reported: new to this disk, and nothing of it durable.
                parent.Entries[Path.GetFileName(to)] = node ?? new Node(Directory.Exists(to));
            }
        }
    }

    public void Deleted(string path)
    {
        lock (_lock)
        {
            if (!Watching(path))
            {
                return;
            }
            ReadPending();
            if (ParentOf(path, create: false) is { } parent)
            {
                parent.Entries.Remove(Path.GetFileName(path));
            }
        }
    }

    public void FileSynced(string path)
    {
        lock (_lock)
        {
            if (!Watching(path))
            {
                return;
            }
            ReadPending();
            if (Resolve(path) is not { } node)
            {
                Created(path, directory: false);
                node = Resolve(path)!;
            }
            node.Mode = OperatingSystem.IsWindows() ? null : File.GetUnixFileMode(path);
            // The writer still holds the file open, locked (FileShare.None), so its data is read
            // at the next report, once the writer is done with it. Nothing here writes a file
            // after flushing it, so that is the data that was flushed.
            _pending.Add(node);
        }
    }

    /// <summary>Reads the flushed data of files whose writers have closed them since.</summary>
    private void ReadPending()
    {
        for (var i = _pending.Count - 1; i >= 0; i--)
        {
            var node = _pending[i];
            if (PathOf(node, _root, _rootNode) is not { } path)
            {
                _pending.RemoveAt(i); // gone from the tree: its data no longer matters
                continue;
            }
            try
            {
                node.DurableData = File.ReadAllBytes(path);
                _pending.RemoveAt(i);
            }
            catch (IOException)
            {
                // still open; the next report reads it
            }
        }
    }

    private static string? PathOf(Node wanted, string path, Node node)
    {
        foreach (var (name, child) in node.Entries)
        {
            var childPath = Path.Combine(path, name);
            if (ReferenceEquals(child, wanted))
            {
                return childPath;
            }
            if (child.IsDirectory && PathOf(wanted, childPath, child) is { } found)
            {
                return found;
            }
        }
        return null;
    }

    public void DirectorySynced(string path)
    {
        lock (_lock)
        {
            if (!Watching(path))
            {
                return;
            }
            ReadPending();
            if (Resolve(path) is { IsDirectory: true } node)
            {
                node.DurableEntries = new Dictionary<string, Node>(node.Entries, StringComparer.Ordinal);
            }
        }
    }

    public void Reached(CrashPoint point)
    {
        lock (_lock)
        {
            if (Crashed)
            {
                return;
            }
            ReadPending();
            Points.Add(point);
            var occurrence = Points.Count(p => p == point);
            if (point == CrashAt && occurrence == CrashOccurrence)
            {
                BeforeCrash?.Invoke(point);
                Crashed = true;
                throw new CrashException(point, occurrence);
            }
        }
    }

    /// <summary>The power comes back: the real tree becomes what was flushed, and nothing else.</summary>
    public void PowerLoss()
    {
        lock (_lock)
        {
            if (!Crashed)
            {
                ReadPending();
            }
            Crashed = true;
            foreach (var dir in Directory.EnumerateDirectories(_root))
            {
                Directory.Delete(dir, recursive: true);
            }
            foreach (var file in Directory.EnumerateFiles(_root))
            {
                File.Delete(file);
            }
            Write(_root, _rootNode.DurableEntries!);
        }
    }

    private static void Write(string dir, Dictionary<string, Node> entries)
    {
        foreach (var (name, node) in entries)
        {
            var path = Path.Combine(dir, name);
            if (node.IsDirectory)
            {
                Directory.CreateDirectory(path);
                Write(path, node.DurableEntries ?? []);
            }
            else
            {
                File.WriteAllBytes(path, node.DurableData ?? []);
                if (node.Mode is { } mode && !OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(path, mode);
                }
            }
        }
    }

    private bool Watching(string path) => !Crashed && Inside(path);

    private bool Inside(string path)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        return full == _root || full.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }

    private Node? Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        if (full == _root)
        {
            return _rootNode;
        }
        if (!Inside(full))
        {
            return null;
        }
        var node = _rootNode;
        foreach (var segment in Path.GetRelativePath(_root, full).Split(Path.DirectorySeparatorChar))
        {
            if (!node.Entries.TryGetValue(segment, out var next))
            {
                return null;
            }
            node = next;
        }
        return node;
    }

    /// <summary>The folder node that holds <paramref name="path"/>; with <paramref name="create"/>,
    /// folders nobody reported are added as new (so nothing of them is durable).</summary>
    private Node? ParentOf(string path, bool create)
    {
        var parent = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (parent == _root)
        {
            return _rootNode;
        }
        if (!Inside(parent))
        {
            return null;
        }
        var node = _rootNode;
        foreach (var segment in Path.GetRelativePath(_root, parent).Split(Path.DirectorySeparatorChar))
        {
            if (!node.Entries.TryGetValue(segment, out var next))
            {
                if (!create)
                {
                    return null;
                }
                next = new Node(directory: true);
                node.Entries[segment] = next;
            }
            node = next;
        }
        return node;
    }

    /// <summary>The tree as it is now, all of it on disk.</summary>
    private static Node Snapshot(string path)
    {
        var node = new Node(directory: true);
        foreach (var dir in Directory.EnumerateDirectories(path))
        {
            node.Entries[Path.GetFileName(dir)] = Snapshot(dir);
        }
        foreach (var file in Directory.EnumerateFiles(path))
        {
            node.Entries[Path.GetFileName(file)] = new Node(directory: false)
            {
                DurableData = File.ReadAllBytes(file),
                Mode = OperatingSystem.IsWindows() ? null : File.GetUnixFileMode(file),
            };
        }
        node.DurableEntries = new Dictionary<string, Node>(node.Entries, StringComparer.Ordinal);
        return node;
    }

    /// <summary>A file or folder (an inode): the entries a folder has now and those on disk; the data a file has on disk.</summary>
    private sealed class Node(bool directory)
    {
        public bool IsDirectory { get; } = directory;
        public Dictionary<string, Node> Entries { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, Node>? DurableEntries { get; set; }
        public byte[]? DurableData { get; set; }
        public UnixFileMode? Mode { get; set; }
    }
}
