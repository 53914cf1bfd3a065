using Belay.Core.IO;

namespace Belay.Core.Feed;

/// <summary>
/// Several copies of one feed (mirrors), the one that answered the last check first. Reads
/// go to each in turn until one succeeds; <see cref="ArtifactDownloader"/> retries a whole
/// download on the next mirror. The signatures carry the trust, so a mirror is trusted
/// for availability only: one that lies fails verification and the next is tried. It does
/// not own its members.
/// </summary>
public sealed class MirrorFeedSource : FeedSource
{
    public MirrorFeedSource(IReadOnlyList<FeedSource> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        if (members.Count == 0)
        {
            throw new ArgumentException("at least one feed is needed", nameof(members));
        }
        Members = members;
    }

    public IReadOnlyList<FeedSource> Members { get; }

    public override string Location => Members[0].Location;

    public override string Describe(string relativePath) => Members[0].Describe(relativePath);

    public override Task<long> CopyToAsync(string relativePath, Stream destination, long maxBytes, CancellationToken cancellationToken) =>
        EachAsync(destination, (m, d) => m.CopyToAsync(relativePath, d, maxBytes, cancellationToken));

    public override Task<long> CopyArtifactAsync(string relativePath, Stream destination, long maxBytes, CancellationToken cancellationToken) =>
        EachAsync(destination, (m, d) => m.CopyArtifactAsync(relativePath, d, maxBytes, cancellationToken));

    public override async Task<FetchResult> FetchAsync(string relativePath, string? etag, long maxBytes, CancellationToken cancellationToken)
    {
        var failures = new List<BelayException>();
        foreach (var member in Members)
        {
            try
            {
                return await member.FetchAsync(relativePath, etag, maxBytes, cancellationToken).ConfigureAwait(false);
            }
            catch (BelayException e) when (e.ExitCode is ExitCodes.FeedUnreachable or ExitCodes.TrustFailure)
            {
                failures.Add(e);
            }
        }
        throw Combine(relativePath, failures);
    }

    /// <summary>Tries each mirror while nothing has been written to <paramref name="destination"/>.</summary>
    private async Task<long> EachAsync(Stream destination, Func<FeedSource, Stream, Task<long>> copy)
    {
        var failures = new List<BelayException>();
        foreach (var member in Members)
        {
            var counting = new CountingStream(destination);
            try
            {
                return await copy(member, counting).ConfigureAwait(false);
            }
            catch (BelayException e) when (e.ExitCode is ExitCodes.FeedUnreachable or ExitCodes.TrustFailure && counting.Written == 0)
            {
                failures.Add(e);
            }
        }
        throw Combine("the file", failures);
    }

    private static BelayException Combine(string what, List<BelayException> failures)
    {
        if (failures.Count == 1)
        {
            return failures[0];
        }
        var worst = failures.FirstOrDefault(f => f.ExitCode == ExitCodes.TrustFailure) ?? failures[0];
        return new BelayException(worst.ExitCode, $"every mirror failed for {what}: {string.Join("; ", failures.Select(f => f.Message))}", worst);
    }

    private sealed class CountingStream(Stream inner) : WriteOnlyStream
    {
        public long Written { get; private set; }

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            Written += count;
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            Written += buffer.Length;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
    }
}
