using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace Belay.Serving;

/// <summary>
/// Strong entity-tags from content: the SHA-256 of the file, in hex, quoted. For an artifact
/// that is the very sha256 its manifest lists, so a tag can be checked by eye.
///
/// Why content and not (size, mtime, inode) as nginx does: a strong tag promises identical
/// bytes, and metadata cannot keep that promise here. Linux stamps mtime from a coarse clock
/// (one tick is 1–10 ms), so a manifest rewritten in place with the same size within one tick
/// keeps its (size, mtime), and .NET exposes no inode to catch a rename. A hash is also the
/// same on every server that holds the same bytes. The cost, one extra read of a file, is
/// paid once per (path, size, mtime): the cache below.
///
/// The cache keeps the "racily clean" rule of git's index: an entry is kept only when the
/// file's mtime was already <see cref="RacyWindow"/> old when hashing began; a younger file
/// could still change within its mtime tick, so it is hashed on every request until then.
/// Two first requests for one new file may both hash it; that costs time, not correctness.
/// </summary>
internal sealed class ContentETags(TimeProvider time)
{
    /// <summary>Covers coarse timestamps (FAT has 2 s) and a clock that steps a little.</summary>
    public static readonly TimeSpan RacyWindow = TimeSpan.FromSeconds(3);

    private const int MaxEntries = 10_000;

    private readonly ConcurrentDictionary<string, Entry> entries = new(StringComparer.Ordinal);

    /// <summary>How many times a file was hashed (not served from the cache); for tests.</summary>
    public int HashCount => hashCount;

    private int hashCount;

    /// <summary>The entity-tag of the open file <paramref name="handle"/>, whose first
    /// <paramref name="length"/> bytes are the representation.</summary>
    public async ValueTask<string> GetAsync(string path, SafeFileHandle handle, long length, DateTime lastWriteUtc,
        CancellationToken cancellationToken)
    {
        var mtime = lastWriteUtc.Ticks;
        if (entries.TryGetValue(path, out var hit) && hit.Length == length && hit.MtimeTicks == mtime)
        {
            return hit.ETag;
        }
        var started = time.GetUtcNow().UtcDateTime;
        var etag = await HashAsync(handle, length, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref hashCount);
        if (started - lastWriteUtc > RacyWindow)
        {
            if (entries.Count >= MaxEntries)
            {
                entries.Clear(); // a feed this large is unusual; forgetting is cheaper than LRU bookkeeping
            }
            entries[path] = new Entry(length, mtime, etag);
        }
        else
        {
            entries.TryRemove(path, out _);
        }
        return etag;
    }

    private static async ValueTask<string> HashAsync(SafeFileHandle handle, long length, CancellationToken cancellationToken)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(128 * 1024);
        try
        {
            long offset = 0;
            while (offset < length)
            {
                var want = (int)Math.Min(buffer.Length, length - offset);
                var n = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, want), offset, cancellationToken)
                    .ConfigureAwait(false);
                if (n == 0)
                {
                    throw new IOException("file shrank while it was being hashed");
                }
                sha.AppendData(buffer, 0, n);
                offset += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return "\"" + Convert.ToHexStringLower(sha.GetHashAndReset()) + "\"";
    }

    private sealed record Entry(long Length, long MtimeTicks, string ETag);
}
