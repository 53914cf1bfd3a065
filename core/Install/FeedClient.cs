using Belay.Core.Feed;
using Belay.Core.Minisign;

namespace Belay.Core.Install;

/// <summary>The outcome of one check of the channel: a verified manifest, or "unchanged".</summary>
public sealed record FeedCheck(ChannelManifest? Manifest, string? ETag, FeedSource Source)
{
    public bool NotModified => Manifest is null;
}

/// <summary>
/// How a host reads its feed: the channel manifest by conditional GET, verified against
/// root.json, which is verified against the pinned root keys. Root is fetched again only
/// when the manifest changed, so an unchanged channel costs one small 304 per poll.
/// Several feeds (mirrors) are tried in turn; a trust failure outranks an unreachable
/// mirror in what is reported, and nothing is believed unless it verifies.
/// </summary>
public sealed class FeedClient : IDisposable
{
    private readonly List<FeedSource> _sources;
    private readonly IReadOnlyList<MinisignPublicKey> _rootKeys;
    private readonly string _product;
    private readonly string _channel;
    private readonly TimeProvider _clock;

    public FeedClient(IReadOnlyList<string> feeds, IReadOnlyList<MinisignPublicKey> rootKeys, string product, string channel,
        bool allowInsecureHttp, TimeProvider? clock = null, HttpClient? http = null)
    {
        ArgumentNullException.ThrowIfNull(feeds);
        foreach (var feed in feeds)
        {
            CheckTransport(feed, allowInsecureHttp);
        }
        _sources = [.. feeds.Select(f => FeedSource.Open(f, http))];
        _rootKeys = rootKeys;
        _product = product;
        _channel = channel;
        _clock = clock ?? TimeProvider.System;
    }

    /// <summary>The root document last verified (null before the first successful check).</summary>
    public RootDocument? Root { get; private set; }

    /// <summary>
    /// https:// always; file:// and folders always (the signatures carry the trust);
    /// http:// only to a loopback address or when the operator said so, since TLS is the
    /// second lock on the door and a feed must never be missing both.
    /// </summary>
    public static void CheckTransport(string feed, bool allowInsecureHttp)
    {
        if (Uri.TryCreate(feed, UriKind.Absolute, out var uri) && uri.Scheme == "http" && !uri.IsLoopback && !allowInsecureHttp)
        {
            throw new BelayException(ExitCodes.Usage, $"feed {feed} is plain http on a non-loopback host: use https://, or --allow-insecure-http if this network is trusted (the feed is still signature-checked)");
        }
    }

    public async Task<FeedCheck> CheckAsync(long watermark, string? manifestETag, CancellationToken cancellationToken)
    {
        var failures = new List<BelayException>();
        foreach (var source in _sources)
        {
            try
            {
                return await CheckSourceAsync(source, watermark, manifestETag, cancellationToken).ConfigureAwait(false);
            }
            catch (BelayException e)
            {
                failures.Add(e);
            }
        }
        var worst = failures.FirstOrDefault(f => f.ExitCode == ExitCodes.TrustFailure) ?? failures[0];
        if (failures.Count == 1)
        {
            throw worst;
        }
        throw new BelayException(worst.ExitCode, $"all {failures.Count} feeds failed: {string.Join("; ", failures.Select(f => f.Message))}", worst);
    }

    private async Task<FeedCheck> CheckSourceAsync(FeedSource source, long watermark, string? manifestETag, CancellationToken cancellationToken)
    {
        var file = FeedLayout.ChannelFile(_channel);
        var fetched = await source.FetchAsync(file, Root is null ? null : manifestETag, FeedSource.MetadataLimit, cancellationToken).ConfigureAwait(false);
        if (fetched.NotModified)
        {
            return new FeedCheck(null, fetched.ETag, source);
        }
        var now = _clock.GetUtcNow();
        var root = await VerifyRootAsync(source, now, cancellationToken).ConfigureAwait(false);
        var signature = await source.ReadAsync(file + FeedLayout.SignatureSuffix, 64 * 1024, cancellationToken).ConfigureAwait(false);
        var manifest = FeedTrust.VerifyManifest(fetched.Content, signature, root, _channel, now, watermark, source.Describe(file));
        Root = root;
        return new FeedCheck(manifest, fetched.ETag, source);
    }

    private async Task<RootDocument> VerifyRootAsync(FeedSource source, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var json = await source.ReadAsync(FeedLayout.RootFile, FeedSource.MetadataLimit, cancellationToken).ConfigureAwait(false);
        var signature = await source.ReadAsync(FeedLayout.RootFile + FeedLayout.SignatureSuffix, 64 * 1024, cancellationToken).ConfigureAwait(false);
        var root = FeedTrust.VerifyRoot(json, signature, _rootKeys, now, source.Describe(FeedLayout.RootFile));
        if (root.Product != _product)
        {
            throw BelayException.Trust($"{source.Describe(FeedLayout.RootFile)} is for product '{root.Product}', not '{_product}'");
        }
        return root;
    }

    public void Dispose()
    {
        foreach (var source in _sources)
        {
            source.Dispose();
        }
    }
}
