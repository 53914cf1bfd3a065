namespace Belay.Core.Update;

/// <summary>
/// When the agent checks the feed next. Healthy: the interval, ±10% jitter, so that hosts
/// started together (a fleet rebooted at once) spread out instead of polling in lockstep.
/// After failed checks: the interval doubled per consecutive error (1 error → 2×, 2 → 4×…)
/// up to the error cap, with the same jitter, so a feed that is down is not hammered by
/// every host at once when it comes back. The cap never makes a failing host poll sooner
/// than a healthy one: when the interval exceeds the cap, the interval is the cap.
/// </summary>
public static class PollSchedule
{
    public static readonly TimeSpan DefaultErrorCap = TimeSpan.FromMinutes(5);

    /// <summary>The jitter: a delay is the base delay × (1 ± this).</summary>
    public const double Jitter = 0.10;

    /// <summary><see cref="NextDelay(TimeSpan, int, TimeSpan, double)"/> with <see cref="DefaultErrorCap"/>.</summary>
    public static TimeSpan NextDelay(TimeSpan interval, int consecutiveErrors, double random01) =>
        NextDelay(interval, consecutiveErrors, DefaultErrorCap, random01);

    /// <param name="interval">The configured poll interval; positive.</param>
    /// <param name="consecutiveErrors">Failed checks in a row; 0 when the last one succeeded.</param>
    /// <param name="errorCap">The longest base delay after errors (before jitter).</param>
    /// <param name="random01">A uniform draw in [0, 1]: 0 gives −10%, 0.5 none, 1 gives +10%.
    /// Out-of-range draws are clamped.</param>
    public static TimeSpan NextDelay(TimeSpan interval, int consecutiveErrors, TimeSpan errorCap, double random01)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegative(consecutiveErrors);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(errorCap, TimeSpan.Zero);
        if (double.IsNaN(random01))
        {
            throw new ArgumentOutOfRangeException(nameof(random01), random01, "a random draw in [0, 1] is required");
        }

        double baseTicks = interval.Ticks;
        if (consecutiveErrors > 0)
        {
            var cap = Math.Max(errorCap.Ticks, interval.Ticks);
            baseTicks = Math.Min(interval.Ticks * Math.Pow(2, Math.Min(consecutiveErrors, 62)), cap);
        }
        var factor = 1 + (Jitter * ((2 * Math.Clamp(random01, 0, 1)) - 1));
        return TimeSpan.FromTicks((long)Math.Round(baseTicks * factor));
    }
}
