namespace Belay.Hub.Agents;

/// <summary>
/// A token bucket: <see cref="TryTake"/> succeeds while tokens last, and tokens come back at
/// <c>perSecond</c> up to <c>burst</c>. Pure arithmetic over the injected clock.
/// </summary>
internal sealed class RateBucket
{
    private readonly double _perSecond;
    private readonly double _burst;
    private readonly TimeProvider _clock;
    private double _tokens;
    private long _last;

    public RateBucket(double perSecond, double burst, TimeProvider clock)
    {
        _perSecond = perSecond;
        _burst = burst;
        _clock = clock;
        _tokens = burst;
        _last = clock.GetTimestamp();
    }

    public bool TryTake()
    {
        var now = _clock.GetTimestamp();
        _tokens = Math.Min(_burst, _tokens + (_clock.GetElapsedTime(_last, now).TotalSeconds * _perSecond));
        _last = now;
        if (_tokens < 1)
        {
            return false;
        }
        _tokens -= 1;
        return true;
    }
}
