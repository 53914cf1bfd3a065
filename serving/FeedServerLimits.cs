namespace Belay.Serving;

/// <summary>
/// The limits of <see cref="FeedServer"/>; the defaults suit a feed on a LAN. Each is a
/// Kestrel limit (KestrelServerLimits), named here so that the server's contract is in one place.
/// </summary>
public sealed record FeedServerLimits
{
    /// <summary>The request line ("GET /path HTTP/1.1"); longer gets 414.</summary>
    public int MaxRequestLineBytes { get; init; } = 8 * 1024;

    /// <summary>All header fields together; more gets 431.</summary>
    public int MaxRequestHeadersBytes { get; init; } = 16 * 1024;

    /// <summary>Header fields; more gets 431.</summary>
    public int MaxHeaderCount { get; init; } = 100;

    /// <summary>Open connections; a connection beyond them is closed at once, unanswered.</summary>
    public int MaxConnections { get; init; } = 256;

    /// <summary>From the first byte of a request to its complete head (slowloris): 408 after it.</summary>
    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long an idle keep-alive connection stays open; it is closed silently.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>A download that makes no progress this long (the client stopped reading) is cut.</summary>
    public TimeSpan SendTimeout { get; init; } = FeedEndpoints.DefaultSendTimeout;

    /// <summary>A client that reads its answer slower than this on average (after a 5 s grace)
    /// is cut off; Kestrel's default.</summary>
    public double MinResponseBytesPerSecond { get; init; } = 240;

    /// <summary>On stop, how long answers under way may take to finish before they are cut.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
