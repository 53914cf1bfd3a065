namespace Belay.Core.Serving;

/// <summary>The server's limits; the defaults suit a feed on a LAN.</summary>
internal sealed record ServerLimits
{
    public int MaxRequestHeadBytes { get; init; } = 16 * 1024;

    public int MaxHeaderCount { get; init; } = 100;

    public int MaxConnections { get; init; } = 256;

    public int MaxRequestsPerConnection { get; init; } = 1000;

    /// <summary>From the start of waiting for a request to its complete head; also the keep-alive idle time.</summary>
    public TimeSpan HeaderTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The longest one write of the response may take (a stalled client).</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan LingerTimeout { get; init; } = TimeSpan.FromSeconds(2);

    public int MaxLingerBytes { get; init; } = 1024 * 1024;
}
