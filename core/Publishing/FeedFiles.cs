using Belay.Core.IO;

namespace Belay.Core.Publishing;

/// <summary>
/// The file operations a publish performs, as a seam: the real one writes atomically, and
/// tests wrap it to fail at any step and check that the feed is left as it was.
/// </summary>
public interface IFeedFiles
{
    bool Exists(string path);
    byte[] ReadAllBytes(string path);
    void CreateDirectory(string path);
    (string Sha256, long Size) CopyAtomically(string source, string destination);
    void WriteAtomically(string path, ReadOnlySpan<byte> content);
    void Delete(string path);
    void DeleteDirectoryIfEmpty(string path);
}

public sealed class FeedFiles : IFeedFiles
{
    public static readonly FeedFiles Instance = new();

    public bool Exists(string path) => File.Exists(path);
    public byte[] ReadAllBytes(string path) => File.ReadAllBytes(path);
    public void CreateDirectory(string path) => Directory.CreateDirectory(path);
    public (string Sha256, long Size) CopyAtomically(string source, string destination) => AtomicFile.Copy(source, destination);
    /// <summary>A file that replaces another is last modified later, in whole seconds, than the one it replaces (<see cref="FeedFileTimes"/>).</summary>
    public void WriteAtomically(string path, ReadOnlySpan<byte> content)
    {
        if (File.Exists(path))
        {
            AtomicFile.WriteAllBytes(path, content, FeedFileTimes.Replacing(File.GetLastWriteTimeUtc(path), DateTime.UtcNow));
        }
        else
        {
            AtomicFile.WriteAllBytes(path, content);
        }
    }

    public void Delete(string path)
    {
        File.Delete(path);
        AtomicFile.FlushDirectoryOf(path);
    }

    public void DeleteDirectoryIfEmpty(string path)
    {
        if (Directory.Exists(path) && !Directory.EnumerateFileSystemEntries(path).Any())
        {
            Directory.Delete(path);
        }
    }
}
