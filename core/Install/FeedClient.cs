using Belay.Core.Feed;
using Belay.Core.IO;
using Belay.Core.Minisign;

namespace Belay.Core.Install;

/// <summary>
/// The outcome of one check of the channel: a verified manifest, or "unchanged".
/// <see cref="Source"/> reads from the feed that answered, then the other mirrors.
/// </summary>
public sealed record FeedCheck(ChannelManifest? Manifest, string? ETag, FeedSource Source)
{
    public bool NotModified => Manifest is null;

    /// <summary>The root the manifest was verified against.</summary>
    public RootDocument? Root { get; init; }

    /// <summary>Root rotations followed during this check.</summary>
    public int Rotations { get; init; }

    /// <summary>The lowest manifest sequence that was acceptable in this check (the watermark in force).</summary>
    public long Watermark { get; init; }
}

/// <summary>
/// How a host reads its feed (docs/trust.md, docs/security.md):
/// <list type="number">
/// <item>one instant, taken when the check starts, judges every expiry in it (freeze);</item>
/// <item>the channel manifest by conditional GET; a 304 re-asserts the manifest verified
/// earlier, which must still be current;</item>
/// <item>root.json, walked forward from the trusted root (trust.json in the state folder, else
/// an anchor on the pinned keys) through every rotation, at most <see cref="MaxRotations"/>;</item>
/// <item>the manifest against that root, with the sequence watermark: the highest seen, which
/// only a rotation of the release keys resets;</item>
/// <item>the trusted root and the watermark persisted together, atomically, and only after
/// they verified: a failure never moves the watermark.</item>
/// </list>
/// Several feeds (mirrors) are tried in turn; a trust failure outranks an unreachable
/// mirror in what is reported, and nothing is believed unless it verifies. Every fetch is
/// capped in size and held to the <see cref="TransferLimits"/>.
/// </summary>
public sealed class FeedClient : IDisposable
{
    private readonly List<FeedSource> _sources;
    private readonly IReadOnlyList<MinisignPublicKey> _rootKeys;
    private readonly string _product;
    private readonly string _channel;
    private readonly TimeProvider _clock;
    private readonly string? _trustFile;
    private TrustState? _trust;
    private ChannelManifest? _manifest;

    public FeedClient(IReadOnlyList<string> feeds, IReadOnlyList<MinisignPublicKey> rootKeys, string product, string channel,
        bool allowInsecureHttp, TimeProvider? clock = null, HttpClient? http = null, string? trustFile = null, TransferLimits? limits = null,
        Func<string, FeedSource>? open = null)
    {
        ArgumentNullException.ThrowIfNull(feeds);
        ArgumentNullException.ThrowIfNull(rootKeys);
        foreach (var feed in feeds)
        {
            CheckTransport(feed, allowInsecureHttp);
        }
        _sources = [.. feeds.Select(f => open?.Invoke(f) ?? FeedSource.Open(f, http))];
        foreach (var source in _sources)
        {
            source.Limits = limits ?? TransferLimits.Default;
        }
        _rootKeys = rootKeys;
        _product = product;
        _channel = channel;
        _clock = clock ?? TimeProvider.System;
        _trustFile = trustFile;
    }

    /// <summary>How many root rotations one check follows; a host further behind catches up over several checks.</summary>
    public int MaxRotations { get; init; } = RootTrust.DefaultMaxRotations;

    /// <summary>The root document last verified (null before the first successful check).</summary>
    public RootDocument? Root { get; private set; }

    /// <summary>The feeds, in the order they are tried.</summary>
    public IReadOnlyList<FeedSource> Sources => _sources;

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
        // Freeze: one "now" for every expiry judged in this check, whichever mirror answers.
        var now = _clock.GetUtcNow();
        var failures = new List<BelayException>();
        for (var i = 0; i < _sources.Count; i++)
        {
            try
            {
                return await CheckSourceAsync(i, watermark, manifestETag, now, cancellationToken).ConfigureAwait(false);
            }
            catch (BelayException e)
            {
                failures.Add(e);
            }
        }
        var worst = failures.FirstOrDefault(f => f is StaleMetadataException) ?? failures.FirstOrDefault(f => f.ExitCode == ExitCodes.TrustFailure) ?? failures[0];
        if (failures.Count == 1)
        {
            throw worst;
        }
        var message = $"all {failures.Count} feeds failed: {string.Join("; ", failures.Select(f => f.Message))}";
        throw worst is StaleMetadataException stale
            ? new StaleMetadataException(stale.Where, stale.Expired, stale.Now, message)
            : new BelayException(worst.ExitCode, message, worst);
    }

    private async Task<FeedCheck> CheckSourceAsync(int index, long watermark, string? manifestETag, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var source = _sources[index];
        var mirrors = new MirrorFeedSource([source, .. _sources.Where((_, i) => i != index)]);
        var file = FeedLayout.ChannelFile(_channel);
        var etag = Root is null || _manifest is null ? null : manifestETag;
        if (etag is null)
        {
            // A first check reads these four in turn: a source that starts a process per file (curl) fetches them in one.
            await source.PrefetchAsync([(file, FeedSource.MetadataLimit), (FeedLayout.RootFile, FeedSource.MetadataLimit),
                (FeedLayout.RootFile + FeedLayout.SignatureSuffix, RootChain.SignatureLimit), (file + FeedLayout.SignatureSuffix, RootChain.SignatureLimit)],
                cancellationToken).ConfigureAwait(false);
        }
        var fetched = await source.FetchAsync(file, etag, FeedSource.MetadataLimit, cancellationToken).ConfigureAwait(false);
        if (fetched.NotModified)
        {
            // Unchanged since it verified; still judged at this check's instant, so a server that
            // answers 304 forever cannot keep an expired manifest alive.
            RootTrust.CheckCurrent(Root!, now, source.Describe(FeedLayout.RootFile));
            if (_manifest!.Expires <= now)
            {
                throw new StaleMetadataException(source.Describe(file), _manifest.Expires, now,
                    $"{source.Describe(file)} expired at {_manifest.Expires:u} (now {now:u}) and the feed still answers 'not modified': the publisher must re-sign the channel, or this host's clock is wrong");
            }
            return new FeedCheck(null, fetched.ETag, mirrors) { Root = Root, Watermark = _trust?.Sequence ?? watermark };
        }

        var trust = LoadTrust();
        var pinned = _rootKeys.Select(k => k.ToBase64()).Order(StringComparer.Ordinal).ToList();
        var trusted = trust is not null && trust.PinnedKeys.Order(StringComparer.Ordinal).SequenceEqual(pinned)
            ? trust.TrustedRoot(_trustFile ?? "trust.json")
            : null;
        if (trusted is not null && trusted.Document.Product != _product)
        {
            trusted = null;
        }
        var epoch = trusted is null ? 0 : trust!.ReleaseEpoch;
        var walk = await RootChain.UpdateAsync(source, trusted, _rootKeys, epoch, now, MaxRotations, cancellationToken).ConfigureAwait(false);
        var root = walk.Root.Document;
        if (root.Product != _product)
        {
            throw BelayException.Trust($"{source.Describe(FeedLayout.RootFile)} is for product '{root.Product}', not '{_product}'");
        }

        // The watermark: the highest sequence seen under the current release epoch. The caller's
        // own (agent.json) counts while no rotation ever reset it.
        var sameEpoch = trusted is not null && walk.ReleaseEpoch == trust!.ReleaseEpoch && trust.Channel == _channel;
        var stored = sameEpoch ? trust!.Sequence : 0;
        var minimum = Math.Max(stored, walk.ReleaseEpoch == 0 ? watermark : 0);
        var next = new TrustState
        {
            Root = Convert.ToBase64String(walk.Root.Json),
            RootVersion = root.Version,
            ReleaseEpoch = walk.ReleaseEpoch,
            Channel = _channel,
            Sequence = stored,
            PinnedKeys = pinned,
        };
        if (!walk.Complete)
        {
            // Every step so far verified: keep them, and go on at the next check.
            SaveTrust(next, trust);
            throw BelayException.Trust($"{source.Describe(FeedLayout.RootFile)}: followed {walk.Rotations} root rotation(s) to version {root.Version} of {walk.FeedVersion}, the most one check takes; the rest follow at the next check");
        }

        var signature = await source.ReadAsync(file + FeedLayout.SignatureSuffix, RootChain.SignatureLimit, cancellationToken).ConfigureAwait(false);
        ChannelManifest manifest;
        try
        {
            manifest = FeedTrust.VerifyManifest(fetched.Content, signature, root, _channel, now, minimum, source.Describe(file));
        }
        catch (BelayException)
        {
            // The root walk verified on its own: keep it. The watermark stays where it was.
            SaveTrust(next, trust);
            throw;
        }
        next.Sequence = Math.Max(manifest.Sequence, stored);
        SaveTrust(next, trust);
        Root = root;
        _manifest = manifest;
        return new FeedCheck(manifest, fetched.ETag, mirrors) { Root = root, Rotations = walk.Rotations, Watermark = minimum };
    }

    /// <summary>What is wrong with the trust file when the last check could not use it ("FILE: field F: …"), else null.
    /// The check then anchors on the pinned keys again, as for a host without one.</summary>
    public string? TrustFileProblem { get; private set; }

    private TrustState? LoadTrust()
    {
        if (_trustFile is null)
        {
            return _trust;
        }
        var loaded = TrustState.TryLoad(_trustFile, out var problem);
        TrustFileProblem = problem;
        return loaded ?? _trust;
    }

    private void SaveTrust(TrustState next, TrustState? previous)
    {
        _trust = next;
        if (_trustFile is null || !Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(_trustFile))))
        {
            return;
        }
        if (previous is not null && previous.Root == next.Root && previous.ReleaseEpoch == next.ReleaseEpoch && previous.Sequence == next.Sequence &&
            previous.Channel == next.Channel && previous.PinnedKeys.SequenceEqual(next.PinnedKeys))
        {
            return;
        }
        try
        {
            next.Save(_trustFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BelayException(e is UnauthorizedAccessException ? ExitCodes.NeedsPrivileges : ExitCodes.Error,
                $"{IOErrors.DescribeWrite(e, _trustFile)}{(e is UnauthorizedAccessException ? "; run it as the installation's owner (sudo for a system-wide one)" : "")}", e);
        }
    }

    public void Dispose()
    {
        foreach (var source in _sources)
        {
            source.Dispose();
        }
    }
}
