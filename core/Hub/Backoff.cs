namespace Belay.Core.Hub;

/// <summary>
/// Reconnect delays with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"):
/// attempt n waits a uniformly random time in [0, min(cap, base · 2ⁿ)], at least
/// <see cref="Minimum"/>. A fleet that lost its hub at one instant then comes back spread over
/// the whole window instead of in one thundering wave.
/// </summary>
public static class Backoff
{
    public static readonly TimeSpan Base = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan Cap = TimeSpan.FromMinutes(5);

    /// <summary>No reconnect sooner than this, however the dice fall.</summary>
    public static readonly TimeSpan Minimum = TimeSpan.FromMilliseconds(250);

    /// <param name="attempt">0 for the first retry after a failure.</param>
    /// <param name="random">A uniform draw in [0, 1).</param>
    public static TimeSpan FullJitter(int attempt, double random) => FullJitter(attempt, random, Base, Cap);

    public static TimeSpan FullJitter(int attempt, double random, TimeSpan @base, TimeSpan cap)
    {
        var exponent = Math.Clamp(attempt, 0, 30);
        var ceiling = Math.Min(cap.TotalMilliseconds, @base.TotalMilliseconds * Math.Pow(2, exponent));
        var delay = TimeSpan.FromMilliseconds(Math.Clamp(random, 0, 1) * ceiling);
        return delay < Minimum ? Minimum : delay;
    }
}
