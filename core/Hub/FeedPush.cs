using System.Text.Json.Serialization;

namespace Belay.Core.Hub;

/// <summary>
/// `belay-release push` and the hub agree on this: <c>POST /api/v1/feed</c> with an admin's API
/// token and the feed as one .tar.gz (<see cref="Publishing.FeedBundle"/>), answered with a
/// <see cref="FeedPushAnswer"/> whether it was taken (200) or refused (the code says why).
/// </summary>
public static class FeedPush
{
    public const string Path = "api/v1/feed";
    public const string ContentType = "application/gzip";

    /// <summary>The answer's code when a check a host would make failed (push exits 3).</summary>
    public const string TrustCode = "trust";

    /// <summary>The answer's code when the bundle is larger than the hub takes.</summary>
    public const string TooLargeCode = "too-large";

    /// <summary>The answer's code when the hub serves no feed (no --feed-dir).</summary>
    public const string NoFeedCode = "no-feed";

    /// <summary>The answer's code when another push held the lock for too long.</summary>
    public const string BusyCode = "busy";
}

/// <summary>What the hub says to a push: the result or the error, and every check it made, one line each.</summary>
public sealed record FeedPushAnswer
{
    /// <summary>What was done (set when taken).</summary>
    public string? Result { get; set; }

    /// <summary>What was wrong and what to do (set when refused).</summary>
    public string? Error { get; set; }

    /// <summary>A stable word: trust, too-large, no-feed, busy, bad-request, unauthorized, forbidden.</summary>
    public string? Code { get; set; }

    /// <summary>The number of the feed the hub now serves (1, 2, …), when taken.</summary>
    public long? Generation { get; set; }

    /// <summary>The checks, as verify-feed prints them ("ok    …", "FAIL  …").</summary>
    public List<string> Report { get; set; } = [];
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(FeedPushAnswer))]
public sealed partial class FeedPushJsonContext : JsonSerializerContext;
