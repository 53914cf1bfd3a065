using System.Formats.Tar;
using System.IO.Compression;
using Belay.Core.Archives;
using Belay.Core.Feed;
using Belay.Core.IO;

namespace Belay.Core.Publishing;

/// <summary>
/// Builds the per-RID agent archive (.tar.gz, or .zip for Windows) from a publish folder, and on request
/// its compact form (<see cref="CreateWithCompact"/>).
/// Archives are reproducible: entries sorted, a fixed timestamp, owner root:root, modes
/// 0755 for executables and 0644 for the rest, so the same input gives the same SHA-256.
/// Debug symbols are left out.
/// </summary>
public static class ArchiveBuilder
{
    /// <summary>The fixed entry time (SOURCE_DATE_EPOCH, when the build sets it).</summary>
    public static DateTimeOffset EntryTime(long? sourceDateEpoch) =>
        DateTimeOffset.FromUnixTimeSeconds(sourceDateEpoch ?? 946684800); // 2000-01-01T00:00:00Z

    private static readonly string[] Excluded = [".dbg", ".pdb", ".dSYM", ".xml", ".json"];

    public static IReadOnlyList<string> Create(string inputDirectory, string outputPath, string rid, DateTimeOffset entryTime) =>
        Create(inputDirectory, outputPath, rid, entryTime, Excluded);

    /// <summary>
    /// The agent archive and, for RIDs that have one, its compact form beside it (<see cref="CompactPathOf"/>): the
    /// same tar, Brotli-compressed (docs/feed.md, "The compact archive"). Returns the files packed and the compact
    /// archive's path (null for Windows RIDs).
    /// </summary>
    /// <remarks>
    /// A compact file left beside the output by an earlier run is removed first, in every mode (with a null
    /// <paramref name="level"/>, none is written): publish takes whatever lies beside the .tar.gz, so a stale one must
    /// never outlive the archive it was made from.
    /// </remarks>
    public static (IReadOnlyList<string> Files, string? CompactPath) CreateWithCompact(string inputDirectory, string outputPath, string rid,
        DateTimeOffset entryTime, CompactArchive.Level? level)
    {
        ArgumentNullException.ThrowIfNull(outputPath);
        var compactPath = CompactPathOf(outputPath, rid);
        if (compactPath is not null && File.Exists(compactPath))
        {
            File.Delete(compactPath);
        }
        var files = Create(inputDirectory, outputPath, rid, entryTime, Excluded, tar =>
        {
            if (compactPath is not null && level is { } chosen)
            {
                AtomicFile.WriteAllBytes(compactPath, CompactArchive.Encode(tar, CompactArchive.ExtensionFor(rid)!, chosen));
            }
        });
        return (files, level is null ? null : compactPath);
    }

    /// <summary>Where the compact form of the .tar.gz at <paramref name="archivePath"/> lies (same folder and name, its own ending); null for Windows RIDs.</summary>
    public static string? CompactPathOf(string archivePath, string rid)
    {
        ArgumentNullException.ThrowIfNull(archivePath);
        var extension = CompactArchive.ExtensionFor(rid);
        var gz = FeedLayout.ArchiveExtension(rid);
        return extension is null || !archivePath.EndsWith(gz, StringComparison.OrdinalIgnoreCase)
            ? null
            : archivePath[..^gz.Length] + extension;
    }

    /// <summary>
    /// The same for any folder: files whose names end in one of <paramref name="excluded"/> are left out
    /// (an app's archive leaves out nothing). <paramref name="rid"/> may be <c>any</c> (a .tar.gz).
    /// </summary>
    public static IReadOnlyList<string> Create(string inputDirectory, string outputPath, string rid, DateTimeOffset entryTime, IReadOnlyList<string> excluded) =>
        Create(inputDirectory, outputPath, rid, entryTime, excluded, compact: null);

    private static List<string> Create(string inputDirectory, string outputPath, string rid, DateTimeOffset entryTime, IReadOnlyList<string> excluded,
        Action<ReadOnlySpan<byte>>? compact)
    {
        ArgumentNullException.ThrowIfNull(excluded);
        if (rid != FeedLayout.AnyRid && !FeedLayout.IsValidRid(rid))
        {
            throw new BelayException(ExitCodes.Usage, $"'{rid}' is not a runtime identifier (like linux-x64 or win-x64)");
        }
        if (!Directory.Exists(inputDirectory))
        {
            throw new BelayException($"input folder {inputDirectory} does not exist; run ./build.sh publish first");
        }
        var files = Directory.EnumerateFiles(inputDirectory, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(inputDirectory, f).Replace('\\', '/'))
            .Where(f => !excluded.Any(e => f.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
        {
            throw new BelayException($"input folder {inputDirectory} holds nothing to package");
        }
        var expected = FeedLayout.ArchiveExtension(rid);
        if (!outputPath.EndsWith(expected, StringComparison.OrdinalIgnoreCase))
        {
            throw new BelayException(ExitCodes.Usage, $"an archive for {rid} must end in {expected}: {outputPath}");
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outputPath))!);
        using var buffer = new MemoryStream();
        using var tar = new MemoryStream();
        if (expected == ".zip")
        {
            WriteZip(buffer, inputDirectory, files, entryTime);
        }
        else
        {
            // The tar once, then each compression of it: the .tar.gz and its compact form hold the very same bytes.
            WriteTar(tar, inputDirectory, files, entryTime);
            using var gzip = new GZipStream(buffer, CompressionLevel.SmallestSize, leaveOpen: true);
            gzip.Write(tar.GetBuffer().AsSpan(0, (int)tar.Length));
        }
        AtomicFile.WriteAllBytes(outputPath, buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
        if (tar.Length > 0)
        {
            compact?.Invoke(tar.GetBuffer().AsSpan(0, (int)tar.Length));
        }
        return files;
    }

    private static void WriteTar(Stream output, string root, List<string> files, DateTimeOffset time)
    {
        // ustar, not pax: .NET names pax extended headers after the process id, which would make
        // every build's archive differ. ustar carries all we need (mode, owner, 255-char names).
        using var tar = new TarWriter(output, TarEntryFormat.Ustar, leaveOpen: true);
        foreach (var dir in files.Select(Path.GetDirectoryName).OfType<string>().Where(d => d.Length > 0).Distinct().Order(StringComparer.Ordinal))
        {
            tar.WriteEntry(new UstarTarEntry(TarEntryType.Directory, dir.Replace('\\', '/') + "/")
            {
                Mode = (UnixFileMode)0b111_101_101,
                ModificationTime = time,
                UserName = "root",
                GroupName = "root",
            });
        }
        foreach (var file in files)
        {
            var path = Path.Combine(root, file);
            using var data = File.OpenRead(path);
            tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, file)
            {
                Mode = IsExecutable(path) ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100,
                ModificationTime = time,
                Uid = 0,
                Gid = 0,
                UserName = "root",
                GroupName = "root",
                DataStream = data,
            });
        }
    }

    private static void WriteZip(Stream output, string root, List<string> files, DateTimeOffset time)
    {
        using var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true);
        foreach (var file in files)
        {
            var entry = zip.CreateEntry(file, CompressionLevel.SmallestSize);
            entry.LastWriteTime = time;
            entry.ExternalAttributes = (IsExecutable(Path.Combine(root, file)) ? 0b111_101_101 : 0b110_100_100) << 16;
            using var target = entry.Open();
            using var source = File.OpenRead(Path.Combine(root, file));
            source.CopyTo(target);
        }
    }

    private static bool IsExecutable(string path) =>
        OperatingSystem.IsWindows()
            ? path.EndsWith(".exe", StringComparison.OrdinalIgnoreCase)
            : (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0 || path.EndsWith(".exe", StringComparison.OrdinalIgnoreCase);
}
