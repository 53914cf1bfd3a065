using System.Security.Cryptography;
using Belay.Core.IO;

namespace Belay.Core.Feed;

/// <summary>
/// Downloads an artifact that a verified channel manifest names, holding it to the manifest's
/// <c>size</c> and <c>sha256</c> (DESIGN.md, "The feed"): the download stops at the signed size,
/// and a file that is bigger, smaller or different is refused as a trust failure and removed.
/// </summary>
public static class ArtifactDownloader
{
    /// <summary>
    /// Downloads <paramref name="artifact"/> from <paramref name="feed"/> into a new file in
    /// <paramref name="directory"/> (mode 0600, a name starting with '.' and ending in
    /// <c>.download</c>), checks its size and SHA-256, flushes it to disk and returns its path.
    /// The caller owns the file from then on. On any failure, cancellation included, the file
    /// is deleted.
    /// </summary>
    /// <exception cref="BelayException">
    /// With <see cref="ExitCodes.TrustFailure"/> when the artifact is larger than its signed size,
    /// truncated or has another hash; with <see cref="ExitCodes.FeedUnreachable"/> when the feed
    /// cannot be read; with <see cref="ExitCodes.Error"/> when the local file cannot be written.
    /// </exception>
    /// <param name="progress">Told the bytes received so far (from 0 again when a mirror is retried), for a progress bar.</param>
    public static async Task<string> DownloadAsync(FeedSource feed, ArtifactEntry artifact, string directory, CancellationToken ct, Action<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(feed);
        if (feed is not MirrorFeedSource { Members.Count: > 1 } mirrors)
        {
            return await DownloadFromAsync(feed is MirrorFeedSource { Members: [var only] } ? only : feed, artifact, directory, progress, ct).ConfigureAwait(false);
        }
        // Mirrors in turn: one that is down, slow or serves other bytes costs a retry, never trust.
        var failures = new List<BelayException>();
        foreach (var member in mirrors.Members)
        {
            try
            {
                return await DownloadFromAsync(member, artifact, directory, progress, ct).ConfigureAwait(false);
            }
            catch (BelayException e) when (e.ExitCode is ExitCodes.FeedUnreachable or ExitCodes.TrustFailure)
            {
                failures.Add(e);
            }
        }
        var worst = failures.FirstOrDefault(f => f.ExitCode == ExitCodes.TrustFailure) ?? failures[0];
        throw new BelayException(worst.ExitCode, $"every mirror failed for {artifact.Path}: {string.Join("; ", failures.Select(f => f.Message))}", worst);
    }

    private static async Task<string> DownloadFromAsync(FeedSource feed, ArtifactEntry artifact, string directory, Action<long>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!FeedLayout.IsSafeRelativePath(artifact.Path))
        {
            throw BelayException.Trust($"refusing artifact path '{artifact.Path}': it is not a plain relative path inside the feed");
        }
        var where = feed.Describe(artifact.Path);
        if (artifact.Size < 0 || artifact.Size == long.MaxValue)
        {
            throw BelayException.Trust($"refusing {where}: the manifest gives it the impossible size {artifact.Size}");
        }
        if (!IsSha256(artifact.Sha256))
        {
            throw BelayException.Trust($"refusing {where}: the manifest's sha256 '{artifact.Sha256}' is not 64 hex digits");
        }
        ct.ThrowIfCancellationRequested();

        var folder = Path.GetFullPath(directory);
        var name = Path.GetFileName(artifact.Path);
        var temp = Path.Combine(folder, $".{(name.Length > 100 ? name[..100] : name)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}.download");
        FileStream file;
        try
        {
            file = AtomicFile.CreateNew(temp, AtomicFile.OwnerOnly, bufferSize: 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException($"cannot create a file in {folder} to download {where} into: {IOErrors.Describe(e)}{(IOErrors.IsDiskFull(e) ? $" ({IOErrors.FreeSpace(folder)})" : "")}", e);
        }

        try
        {
            await using (file.ConfigureAwait(false))
            {
                using var sink = new VerifyingSink(file, temp, where, artifact.Size, progress);
                try
                {
                    await feed.CopyArtifactAsync(artifact.Path, sink, artifact.Size, ct).ConfigureAwait(false);
                }
                catch (BelayException e) when (e.ExitCode == ExitCodes.TrustFailure && !sink.Overflowed)
                {
                    // The feed source's own cap (the path was checked above, so this is the size):
                    // say it in the manifest's terms.
                    throw TooLarge(where, artifact.Size, e);
                }
                if (sink.Written != artifact.Size)
                {
                    throw BelayException.Trust($"{where} is truncated: got {sink.Written} of {artifact.Size} bytes");
                }
                var actual = sink.Sha256();
                if (!string.Equals(actual, artifact.Sha256, StringComparison.OrdinalIgnoreCase))
                {
                    throw BelayException.Trust($"{where} has SHA-256 {actual}, but the signed manifest says {artifact.Sha256.ToLowerInvariant()}; refusing it");
                }
                try
                {
                    AtomicFile.FlushToDisk(file);
                }
                catch (IOException e)
                {
                    throw new BelayException(IOErrors.DescribeWrite(e, temp), e);
                }
            }
            return temp;
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static BelayException TooLarge(string where, long size, Exception? inner = null) =>
        BelayException.Trust($"{where} is larger than the signed size of {size} bytes; refusing the rest", inner);

    private static bool IsSha256(string? value) =>
        value is { Length: 64 } && value.All(char.IsAsciiHexDigit);

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>
    /// Where the feed writes: counts and hashes the bytes as they pass to the file and refuses
    /// any byte past the signed size, whatever the feed source's own cap does.
    /// </summary>
    private sealed class VerifyingSink : WriteOnlyStream
    {
        private readonly FileStream _file;
        private readonly string _path;
        private readonly string _where;
        private readonly long _size;
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        private readonly Action<long>? _progress;

        public VerifyingSink(FileStream file, string path, string where, long size, Action<long>? progress)
        {
            _file = file;
            _path = path;
            _where = where;
            _size = size;
            _progress = progress;
            progress?.Invoke(0);
        }

        public long Written { get; private set; }
        public bool Overflowed { get; private set; }

        public string Sha256() => Convert.ToHexStringLower(_hash.GetCurrentHash());

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Admit(buffer);
            try
            {
                _file.Write(buffer);
            }
            catch (IOException e)
            {
                throw new BelayException(IOErrors.DescribeWrite(e, _path), e);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Admit(buffer.Span);
            try
            {
                await _file.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                // Not an IOException any more: an HTTP source would take it for a failed read.
                throw new BelayException(IOErrors.DescribeWrite(e, _path), e);
            }
        }

        private void Admit(ReadOnlySpan<byte> buffer)
        {
            if (Written + buffer.Length > _size)
            {
                Overflowed = true;
                throw TooLarge(_where, _size);
            }
            _hash.AppendData(buffer);
            Written += buffer.Length;
            _progress?.Invoke(Written);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _hash.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
