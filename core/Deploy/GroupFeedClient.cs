using Belay.Core.Feed;
using Belay.Core.Minisign;

namespace Belay.Core.Deploy;

/// <summary>What one poll of the group document came to.</summary>
public enum GroupPollOutcome
{
    /// <summary>A document that verified and differs (by ETag) from the one last acknowledged: act on it, then <see cref="GroupFeedClient.Acknowledge"/>.</summary>
    Changed,

    /// <summary>The feed answered 304 for the document last acknowledged, which is still current; <see cref="GroupPoll.Document"/> is that document.</summary>
    NotModified,

    /// <summary>The feed has no document for this group and this host never saw one: nothing is deployed to it. Not an error.</summary>
    Missing,

    /// <summary>Nothing was taken; <see cref="GroupPoll.Error"/> says why. Keep the apps as they are and report it.</summary>
    Failed,
}

/// <summary>
/// The outcome of <see cref="GroupFeedClient.PollAsync"/>. <see cref="Source"/> reads from the
/// feed that answered first, then the other mirrors: pass it to <see cref="AppArtifactFetcher.FetchAsync"/>.
/// </summary>
public sealed record GroupPoll(GroupPollOutcome Outcome, GroupDocument? Document, string? ETag, FeedSource Source, GroupFeedException? Error)
{
    /// <summary>The root the document was verified against (for <see cref="GroupFeedClient.Acknowledge"/>).</summary>
    internal RootDocument? Root { get; init; }
}

/// <summary>
/// How the agent reads its group's desired state each poll (DESIGN.md, "Deployments";
/// docs/deployments.md, "Trust"). The entry points, stable for the agent:
/// <list type="bullet">
/// <item><see cref="PollAsync"/>: conditional GET of groups/&lt;group&gt;.json (+ .minisig), returning a
/// verified document, "not modified", "missing", or a typed failure (<see cref="GroupFeedException"/>,
/// never thrown: only cancellation throws);</item>
/// <item><see cref="Acknowledge"/>: the agent acted on a document (its apps converged or failed and
/// were reported). Only then is its ETag sent in If-None-Match, so a document the agent has not
/// finished with (an agent killed mid-deploy, a failed write) is fetched again in full.</item>
/// </list>
/// Each poll, in order: one instant for every expiry judged in it; the document by conditional
/// GET; on a change, the root walked forward from the host's trusted root (trust.json, read only:
/// the channel check owns that file) through every rotation; the document checked by
/// <see cref="GroupTrust.Verify"/> against that root's deploy keys and this group's watermark
/// (<see cref="GroupWatermarks"/>), which is persisted only after the document verified. A 304
/// re-judges the acknowledged document's expiry and its root's, so a server answering 304
/// forever cannot keep an expired document alive. Mirrors are tried in turn; a trust failure
/// outranks an unreachable mirror in what is reported. Every fetch is capped (4 MiB for the
/// document, 64 KiB for signatures) and held to the sources' <see cref="TransferLimits"/>.
/// </summary>
public sealed class GroupFeedClient
{
    private readonly IReadOnlyList<FeedSource> _sources;
    private readonly IReadOnlyList<MinisignPublicKey> _rootKeys;
    private readonly string _product;
    private readonly string? _trustFile;
    private readonly GroupWatermarks _watermarks;
    private readonly TimeProvider _clock;
    private TrustedRoot? _root;
    private Acknowledged? _acknowledged;

    /// <param name="sources">The feed and its mirrors, in order; share the channel client's (<c>FeedClient.Sources</c>): they are not disposed here.</param>
    /// <param name="rootKeys">The host's pinned root keys.</param>
    /// <param name="product">The product root.json must be for (config.json's product).</param>
    /// <param name="group">The host's group.</param>
    /// <param name="trustFile">trust.json, where the channel check keeps the newest verified root (read only here); null to walk from the pinned keys.</param>
    /// <param name="watermarkFile">groups.json in the state folder; null keeps the watermarks in memory (tests, the publisher).</param>
    public GroupFeedClient(IReadOnlyList<FeedSource> sources, IReadOnlyList<MinisignPublicKey> rootKeys, string product, string group,
        string? trustFile, string? watermarkFile, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(rootKeys);
        if (sources.Count == 0)
        {
            throw new ArgumentException("at least one feed is needed", nameof(sources));
        }
        if (!DeployNames.IsValidGroup(group))
        {
            throw new BelayException(ExitCodes.Usage, $"'{group}' is not a group name ({DeployNames.GroupRule})");
        }
        _sources = sources;
        _rootKeys = rootKeys;
        _product = product;
        Group = group;
        _trustFile = trustFile;
        _watermarks = GroupWatermarks.Load(watermarkFile);
        _clock = clock ?? TimeProvider.System;
    }

    /// <summary>The group this client reads.</summary>
    public string Group { get; }

    /// <summary>How many root rotations one poll follows (the rest wait for the next poll).</summary>
    public int MaxRotations { get; init; } = RootTrust.DefaultMaxRotations;

    /// <summary>The document last acknowledged, or null.</summary>
    public GroupDocument? Current => _acknowledged?.Document;

    /// <summary>The highest sequence this host has verified for its group (0 when none).</summary>
    public long Watermark => _watermarks.Seen(Group);

    /// <summary>Polls once; see the class summary. Throws only <see cref="OperationCanceledException"/>.</summary>
    public async Task<GroupPoll> PollAsync(CancellationToken cancellationToken)
    {
        var now = _clock.GetUtcNow();
        var failures = new List<GroupFeedException>();
        for (var i = 0; i < _sources.Count; i++)
        {
            var mirrors = new MirrorFeedSource([_sources[i], .. _sources.Where((_, j) => j != i)]);
            try
            {
                return await PollSourceAsync(_sources[i], mirrors, now, cancellationToken).ConfigureAwait(false);
            }
            catch (GroupFeedException e)
            {
                failures.Add(e);
            }
            catch (BelayException e)
            {
                failures.Add(Classify(e));
            }
        }
        var worst = failures.FirstOrDefault(f => f.Failure != GroupFeedFailure.Unreachable) ?? failures[0];
        var error = failures.Count == 1
            ? worst
            : new GroupFeedException(worst.Failure, $"all {failures.Count} feeds failed: {string.Join("; ", failures.Select(f => f.Message))}", worst);
        return new GroupPoll(GroupPollOutcome.Failed, null, null, new MirrorFeedSource(_sources), error);
    }

    /// <summary>
    /// The agent has acted on <paramref name="poll"/>'s document: from now on its ETag is sent with
    /// each poll, and a 304 returns it as <see cref="GroupPollOutcome.NotModified"/>. Polls that
    /// were not acknowledged leave the previous acknowledgement in place.
    /// </summary>
    public void Acknowledge(GroupPoll poll)
    {
        ArgumentNullException.ThrowIfNull(poll);
        if (poll.Outcome == GroupPollOutcome.Changed && poll.Document is not null && poll.Root is not null)
        {
            _acknowledged = new Acknowledged(poll.Document, poll.ETag, poll.Root);
        }
    }

    private async Task<GroupPoll> PollSourceAsync(FeedSource source, FeedSource mirrors, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var file = FeedLayout.GroupFile(Group);
        var where = source.Describe(file);
        // Most hosts' groups have no document until their first deploy: not found is an answer here, not an exception.
        var fetched = await source.FetchIfPresentAsync(file, _acknowledged?.ETag, FeedSource.MetadataLimit, cancellationToken).ConfigureAwait(false);
        if (fetched is null)
        {
            var seen = _watermarks.Seen(Group);
            if (seen == 0 && _acknowledged is null)
            {
                return new GroupPoll(GroupPollOutcome.Missing, null, null, mirrors, null);
            }
            throw new GroupFeedException(GroupFeedFailure.Missing,
                $"{where} is gone, although this host verified sequence {seen} of group {Group}; keeping the apps as they are (a removal is published as \"state\": \"absent\", never by deleting the document)");
        }

        if (fetched.NotModified && _acknowledged is { } known)
        {
            RootTrust.CheckCurrent(known.Root, now, source.Describe(FeedLayout.RootFile));
            if (known.Document.Expires <= now)
            {
                throw new GroupFeedException(GroupFeedFailure.Expired,
                    $"{where} expired at {known.Document.Expires:u} (now {now:u}) and the feed still answers 'not modified': the publisher must re-sign it (belay-release deploy --group {Group} without --app), or this host's clock is wrong");
            }
            return new GroupPoll(GroupPollOutcome.NotModified, known.Document, known.ETag, mirrors, null) { Root = known.Root };
        }
        if (fetched.Content is null)
        {
            // A 304 to a request that carried no ETag of ours: a broken cache in between.
            throw new GroupFeedException(GroupFeedFailure.Unreachable, $"{where} answered 'not modified' to a request that named no version of it");
        }

        var root = await TrustedRootAsync(source, now, cancellationToken).ConfigureAwait(false);
        byte[] signature;
        try
        {
            signature = await source.ReadAsync(file + FeedLayout.SignatureSuffix, RootChain.SignatureLimit, cancellationToken).ConfigureAwait(false);
        }
        catch (FeedFileNotFoundException e)
        {
            throw new GroupFeedException(GroupFeedFailure.Untrusted, $"{where} has no signature ({FeedLayout.SignatureSuffix}): refusing an unsigned group document", e);
        }
        var document = GroupTrust.Verify(fetched.Content, signature, root, Group, now, _watermarks.Minimum(Group, root), where);
        _watermarks.Record(Group, document.Sequence, root);
        return new GroupPoll(GroupPollOutcome.Changed, document, fetched.ETag, mirrors, null) { Root = root };
    }

    /// <summary>The root to verify against: walked forward from the newer of what this client and trust.json hold, else anchored on the pinned keys.</summary>
    private async Task<RootDocument> TrustedRootAsync(FeedSource source, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var start = _root;
        var trust = TrustState.TryLoad(_trustFile);
        var pinned = _rootKeys.Select(k => k.ToBase64()).Order(StringComparer.Ordinal).ToList();
        if (trust is not null && trust.PinnedKeys.Order(StringComparer.Ordinal).SequenceEqual(pinned) &&
            trust.TrustedRoot(_trustFile ?? "trust.json") is { } stored && stored.Document.Product == _product &&
            (start is null || stored.Document.Version > start.Document.Version))
        {
            start = stored;
        }
        RootWalk walk;
        try
        {
            walk = await RootChain.UpdateAsync(source, start, _rootKeys, 0, now, MaxRotations, cancellationToken).ConfigureAwait(false);
        }
        catch (BelayException e) when (e is not GroupFeedException)
        {
            throw Classify(e);
        }
        // Every step verified: keep it for the next poll, even when the walk is not complete.
        _root = walk.Root;
        if (!walk.Complete)
        {
            throw new GroupFeedException(GroupFeedFailure.Untrusted,
                $"{source.Describe(FeedLayout.RootFile)}: followed {walk.Rotations} root rotation(s) to version {walk.Root.Document.Version} of {walk.FeedVersion}, the most one poll takes; the rest follow at the next poll");
        }
        if (walk.Root.Document.Product != _product)
        {
            throw new GroupFeedException(GroupFeedFailure.Untrusted, $"{source.Describe(FeedLayout.RootFile)} is for product '{walk.Root.Document.Product}', not '{_product}'");
        }
        return walk.Root.Document;
    }

    private static GroupFeedException Classify(BelayException e) => e switch
    {
        GroupFeedException g => g,
        StaleMetadataException => new GroupFeedException(GroupFeedFailure.Expired, e.Message, e),
        _ when e.ExitCode == ExitCodes.TrustFailure => new GroupFeedException(GroupFeedFailure.Untrusted, e.Message, e),
        _ => new GroupFeedException(GroupFeedFailure.Unreachable, e.Message, e),
    };

    private sealed record Acknowledged(GroupDocument Document, string? ETag, RootDocument Root);
}
