using System.Security.Cryptography;
using Belay.Core.Publishing;

namespace Belay.Core.Tests.Publishing;

/// <summary>The real file operations, except that the Nth write throws, once.</summary>
internal sealed class FailingFeedFiles(int failAt) : IFeedFiles
{
    public int Writes { get; private set; }
    public bool Failed { get; private set; }

    private void Step(string what)
    {
        Writes++;
        if (Writes == failAt && !Failed)
        {
            Failed = true;
            throw new IOException($"injected failure at write {Writes} ({what})");
        }
    }

    public bool Exists(string path) => FeedFiles.Instance.Exists(path);
    public byte[] ReadAllBytes(string path) => FeedFiles.Instance.ReadAllBytes(path);

    public void CreateDirectory(string path)
    {
        Step("mkdir " + path);
        FeedFiles.Instance.CreateDirectory(path);
    }

    public (string Sha256, long Size) CopyAtomically(string source, string destination)
    {
        Step("copy " + destination);
        return FeedFiles.Instance.CopyAtomically(source, destination);
    }

    public void WriteAtomically(string path, ReadOnlySpan<byte> content)
    {
        Step("write " + path);
        FeedFiles.Instance.WriteAtomically(path, content);
    }

    public void Delete(string path)
    {
        Step("delete " + path);
        FeedFiles.Instance.Delete(path);
    }

    public void DeleteDirectoryIfEmpty(string path) => FeedFiles.Instance.DeleteDirectoryIfEmpty(path);

    /// <summary>Every file (its SHA-256) and folder of a feed, to compare before and after.</summary>
    public static Dictionary<string, string> Snapshot(string feed) =>
        Directory.EnumerateFileSystemEntries(feed, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToDictionary(
            p => Path.GetRelativePath(feed, p),
            p => File.Exists(p) ? Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(p))) : "dir");

    public static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
        }
    }
}
