using System.Formats.Tar;
using System.IO.Compression;
using Belay.Core.IO;

namespace Belay.Core.Publishing;

/// <summary>
/// A feed folder as one publication, for `belay-release push`: a .tar.gz of every regular file
/// in it (sorted, relative paths with forward slashes), which the hub unpacks with the same
/// defensive extractor as an agent archive, checks whole, and then serves in one switch
/// (docs/hub.md, "Serving a feed"). Names with a segment starting with '.' are left out (the
/// publisher's temporaries, which no server serves); a symbolic link, or anything else that is
/// not a plain file or folder, is refused here already: the hub would refuse it.
/// </summary>
public static class FeedBundle
{
    /// <summary>Writes the bundle of <paramref name="feedDirectory"/> to <paramref name="output"/>; returns the files it holds.</summary>
    public static IReadOnlyList<string> Create(string feedDirectory, Stream output)
    {
        ArgumentException.ThrowIfNullOrEmpty(feedDirectory);
        ArgumentNullException.ThrowIfNull(output);
        var root = Path.GetFullPath(feedDirectory);
        if (!Directory.Exists(root))
        {
            throw new BelayException(ExitCodes.Usage, $"--feed {feedDirectory}: no such folder");
        }
        if (!File.Exists(Path.Combine(root, Feed.FeedLayout.RootFile)))
        {
            throw new BelayException(ExitCodes.Usage, $"{root} has no {Feed.FeedLayout.RootFile}: is it a feed folder? (belay-release init makes one)");
        }
        var files = new List<string>();
        Collect(root, "", files);
        files.Sort(StringComparer.Ordinal);
        using var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true);
        using var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true);
        foreach (var file in files)
        {
            var path = Path.Combine(root, file);
            try
            {
                using var content = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, FileOptions.SequentialScan);
                var entry = new PaxTarEntry(TarEntryType.RegularFile, file)
                {
                    DataStream = content,
                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                    ModificationTime = DateTimeOffset.UnixEpoch,
                };
                tar.WriteEntry(entry);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new BelayException($"cannot read {path}: {SystemErrors.Describe(e)}", e);
            }
        }
        return files;
    }

    private static void Collect(string root, string relative, List<string> files)
    {
        var dir = relative.Length == 0 ? root : Path.Combine(root, relative);
        foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos())
        {
            if (entry.Name.StartsWith('.'))
            {
                continue;
            }
            var name = relative.Length == 0 ? entry.Name : $"{relative}/{entry.Name}";
            if (entry.LinkTarget is not null)
            {
                throw new BelayException($"{entry.FullName} is a symbolic link: a pushed feed holds plain files and folders only; replace it with the file itself");
            }
            if (entry is DirectoryInfo)
            {
                Collect(root, name, files);
            }
            else if (entry is FileInfo && (entry.Attributes & (FileAttributes.Device | FileAttributes.ReparsePoint)) == 0)
            {
                files.Add(name);
            }
            else
            {
                throw new BelayException($"{entry.FullName} is not a plain file: a pushed feed holds plain files and folders only");
            }
        }
    }
}
