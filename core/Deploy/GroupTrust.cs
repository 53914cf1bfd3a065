using Belay.Core.Feed;
using Belay.Core.Minisign;

namespace Belay.Core.Deploy;

/// <summary>
/// The checks that make a group document trusted, as pure functions over bytes already
/// fetched, so that the agent, <c>belay-release deploy</c> and <c>verify-feed</c> apply the same
/// rules (docs/deployments.md, "Trust"). In this order, each failure a trust failure that
/// names its check:
/// <list type="number">
/// <item>signed by a deploy key of the trusted root (a release key, or the root key, does not do);</item>
/// <item>every field sound (<see cref="GroupDocument.Parse"/>);</item>
/// <item>for this host's group: another group's document, validly signed, is refused;</item>
/// <item>a sequence no lower than the watermark of this group;</item>
/// <item>not expired at the instant of the check.</item>
/// </list>
/// </summary>
public static class GroupTrust
{
    /// <param name="json">groups/&lt;group&gt;.json as fetched.</param>
    /// <param name="signature">its .minisig.</param>
    /// <param name="root">The root the host trusts (reached from its pinned keys).</param>
    /// <param name="group">The host's group.</param>
    /// <param name="now">The instant expiry is judged at; null skips it (a publisher extending an expired document).</param>
    /// <param name="minimumSequence">The group's watermark: the highest sequence seen.</param>
    /// <param name="source">Where the bytes came from, for messages.</param>
    /// <exception cref="GroupFeedException">With the <see cref="GroupFeedFailure"/> of the check that failed; exit code 3.</exception>
    public static GroupDocument Verify(ReadOnlySpan<byte> json, ReadOnlySpan<byte> signature, RootDocument root, string group,
        DateTimeOffset? now, long minimumSequence, string source)
    {
        ArgumentNullException.ThrowIfNull(root);
        IReadOnlyList<MinisignPublicKey> deployKeys;
        try
        {
            deployKeys = FeedTrust.DeployKeys(root);
        }
        catch (BelayException e)
        {
            throw new GroupFeedException(GroupFeedFailure.Untrusted, e.Message, e);
        }
        try
        {
            _ = FeedTrust.VerifySignature(json, signature, deployKeys, source, "a deploy key listed in root.json" + RoleHint(root, signature));
        }
        catch (BelayException e)
        {
            throw new GroupFeedException(GroupFeedFailure.Untrusted, e.Message, e);
        }
        GroupDocument document;
        try
        {
            document = GroupDocument.Parse(json, source);
        }
        catch (BelayException e)
        {
            throw new GroupFeedException(GroupFeedFailure.Invalid, e.Message, e);
        }
        if (document.Group != group)
        {
            throw new GroupFeedException(GroupFeedFailure.WrongGroup,
                $"{source} is the document of group '{document.Group}', not of this host's group '{group}'; refusing it (a mirror or cache serving another group's file?)");
        }
        if (document.Sequence < minimumSequence)
        {
            throw new GroupFeedException(GroupFeedFailure.Replayed,
                $"{source} has sequence {document.Sequence}, lower than {minimumSequence} already seen for group {group}: refusing a rolled-back (replayed) document");
        }
        if (now is { } at && document.Expires <= at)
        {
            throw new GroupFeedException(GroupFeedFailure.Expired,
                $"{source} expired at {document.Expires:u} (now {at:u}): the publisher must deploy again or re-sign it (belay-release deploy --group {group} without --app re-signs it), or this host's clock is wrong");
        }
        return document;
    }

    /// <summary>When the signer is a key of another role, say so: that is the mistake to fix, not a forgery.</summary>
    private static string RoleHint(RootDocument root, ReadOnlySpan<byte> signature)
    {
        string? keyId;
        try
        {
            keyId = MinisignSignature.Parse(signature).KeyIdHex;
        }
        catch (MinisignException)
        {
            return "";
        }
        bool Lists(KeyRole? role) => role is not null && role.Keys.Any(k => MinisignPublicKey.TryParse(k, out var key, out _) && key.KeyIdHex == keyId);
        return Lists(root.Release) ? "; it is a release key, which signs channels only"
            : Lists(root.Root) ? "; it is a root key, which signs root.json only"
            : "";
    }
}

/// <summary>Why a group document was not taken.</summary>
public enum GroupFeedFailure
{
    /// <summary>The feed could not be read (network, HTTP error, too slow): nothing was learned.</summary>
    Unreachable,

    /// <summary>The signature does not verify with a deploy key of the trusted root, or root.json itself failed.</summary>
    Untrusted,

    /// <summary>Signed, but a field is wrong (a publisher bug or a newer schema).</summary>
    Invalid,

    /// <summary>A lower sequence than this host has seen for its group: a replay.</summary>
    Replayed,

    /// <summary>Past its expiry: a freeze, a publisher that stopped re-signing, or a wrong clock.</summary>
    Expired,

    /// <summary>Validly signed, but for another group.</summary>
    WrongGroup,

    /// <summary>The document is gone (404) although this host has seen one for its group.</summary>
    Missing,
}

/// <summary>A group document that was not taken, with the reason as a <see cref="GroupFeedFailure"/> and in words.</summary>
public sealed class GroupFeedException : BelayException
{
    public GroupFeedException(GroupFeedFailure failure, string message, Exception? inner = null)
        : base(failure == GroupFeedFailure.Unreachable ? ExitCodes.FeedUnreachable : ExitCodes.TrustFailure, message, inner)
    {
        Failure = failure;
    }

    public GroupFeedException()
        : this(GroupFeedFailure.Invalid, "group document refused")
    {
    }

    public GroupFeedException(string message)
        : this(GroupFeedFailure.Invalid, message)
    {
    }

    public GroupFeedException(string message, Exception inner)
        : this(GroupFeedFailure.Invalid, message, inner)
    {
    }

    public GroupFeedFailure Failure { get; }
}
