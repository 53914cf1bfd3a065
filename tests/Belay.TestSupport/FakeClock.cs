namespace Belay.TestSupport;

/// <summary>A clock that moves only when the test says so.</summary>
public sealed class FakeClock : TimeProvider
{
    public FakeClock(DateTimeOffset start)
    {
        Now = start;
    }

    public FakeClock()
        : this(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero))
    {
    }

    public DateTimeOffset Now { get; set; }

    public override DateTimeOffset GetUtcNow() => Now;

    public void Advance(TimeSpan by) => Now += by;
}
