using System.Globalization;
using System.Security.Cryptography;

namespace Belay.Core.IO;

/// <summary>
/// Replaces files so that a reader, or a host that loses power, sees either the old
/// content or the new, never a mix: write a temporary file beside the target, flush it to
/// disk, rename it over the target, flush the directory.
/// </summary>
public static class AtomicFile
{
    /// <summary>Unix mode for files only their owner may read (secrets, state).</summary>
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Unix mode for public files that only their owner may change.</summary>
    public const UnixFileMode PublicRead = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content, UnixFileMode mode = PublicRead) =>
        Write(path, content, mode, protect: null);

    /// <summary>As <see cref="WriteAllBytes(string, ReadOnlySpan{byte}, UnixFileMode)"/>, the new file last modified at <paramref name="lastWriteUtc"/> from the moment it appears.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content, DateTime lastWriteUtc, UnixFileMode mode = PublicRead) =>
        Write(path, content, mode, protect: null, lastWriteUtc);

    /// <summary>
    /// Writes a file that holds a secret (a token): mode 0600 on Unix; on Windows the owner-only DACL of
    /// <paramref name="scope"/> (<see cref="OwnerOnlyAcl"/>), set on the temporary file before the secret is
    /// written into it. <paramref name="acl"/> is for tests; it defaults to the advapi32 one on Windows.
    /// </summary>
    public static void WriteSecret(string path, ReadOnlySpan<byte> content, OwnerOnlyScope scope, OwnerOnlyAcl? acl = null)
    {
        if (acl is null && OperatingSystem.IsWindows())
        {
            acl = new OwnerOnlyAcl(new Windows.NativeFileSecurity());
        }
        Write(path, content, OwnerOnly, acl is null ? null : temp => acl.Apply(temp, scope));
    }

    private static void Write(string path, ReadOnlySpan<byte> content, UnixFileMode mode, Action<string>? protect, DateTime? lastWriteUtc = null)
    {
        var temp = CreateTemp(path, mode, out var stream);
        try
        {
            using (stream)
            {
                protect?.Invoke(temp);
                stream.Write(content);
                FlushToDisk(stream);
            }
            if (lastWriteUtc is { } at)
            {
                File.SetLastWriteTimeUtc(temp, at);
            }
            Commit(temp, path);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    public static void WriteAllText(string path, string content, UnixFileMode mode = PublicRead) =>
        WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(content), mode);

    /// <summary>Copies <paramref name="source"/> to <paramref name="path"/> atomically and returns the copy's SHA-256 (hex) and size.</summary>
    public static (string Sha256, long Size) Copy(string source, string path, UnixFileMode mode = PublicRead)
    {
        var temp = CreateTemp(path, mode, out var stream);
        try
        {
            string hash;
            long size;
            using (stream)
            using (var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, FileOptions.SequentialScan))
            using (var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = new byte[81920];
                int n;
                size = 0;
                while ((n = input.Read(buffer)) > 0)
                {
                    sha.AppendData(buffer, 0, n);
                    stream.Write(buffer, 0, n);
                    size += n;
                }
                FlushToDisk(stream);
                hash = Convert.ToHexStringLower(sha.GetHashAndReset());
            }
            Commit(temp, path);
            return (hash, size);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Flushes the directory that holds <paramref name="path"/>, so that a rename into it survives a crash.</summary>
    public static void FlushDirectoryOf(string path)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir)
        {
            FlushDirectory(dir);
        }
    }

    /// <summary>Flushes the entries of <paramref name="directory"/> (files and folders created, renamed or deleted in it) to disk.</summary>
    public static void FlushDirectory(string directory)
    {
        if (!OperatingSystem.IsWindows())
        {
            Posix.FSyncDirectory(directory);
            Durability.DirectorySynced(directory);
        }
    }

    /// <summary>Flushes a file's data to disk (fsync).</summary>
    public static void FlushToDisk(FileStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Flush(flushToDisk: true);
        Durability.FileSynced(stream.Name);
    }

    /// <summary>
    /// Creates <paramref name="path"/> and its missing parents so that they survive a power
    /// loss: each new folder's parent is flushed after the folder is made. Without that, a
    /// file written and flushed inside a new folder can vanish with the folder.
    /// Returns the folders it created, outermost first.
    /// </summary>
    public static IReadOnlyList<string> CreateDirectoryDurably(string path, UnixFileMode? mode = null)
    {
        var created = Durability.CreateDirectory(path, mode);
        foreach (var dir in created)
        {
            FlushDirectoryOf(dir);
        }
        return created;
    }

    /// <summary>
    /// Creates a new file for writing: O_CREAT|O_EXCL, so it neither follows nor replaces
    /// anything already there (a planted link included), with its mode set at creation, so
    /// a secret is never readable by others, not even briefly.
    /// </summary>
    public static FileStream CreateNew(string path, UnixFileMode mode = OwnerOnly, int bufferSize = 4096)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = bufferSize,
        };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = mode;
        }
        var stream = new FileStream(path, options);
        Durability.Created(path, directory: false);
        return stream;
    }

    private static string CreateTemp(string path, UnixFileMode mode, out FileStream stream)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? throw new IOException($"{path} has no parent directory");
        // The name only has to be new (CreateNew refuses anything already there) and hard to guess.
        // Guid.NewGuid reads the kernel's CSPRNG directly; RandomNumberGenerator would load and
        // initialise OpenSSL (libssl + libcrypto, ~0.7 MB PSS) in the keeper, which needs no TLS.
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid().ToString("N", CultureInfo.InvariantCulture)[..12]}.tmp");
        stream = CreateNew(temp, mode);
        return temp;
    }

    private static void Commit(string temp, string path)
    {
        Durability.MoveFile(temp, path, overwrite: true);
        FlushDirectoryOf(path);
    }

    private static void TryDelete(string path)
    {
        try
        {
            Durability.DeleteFile(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
