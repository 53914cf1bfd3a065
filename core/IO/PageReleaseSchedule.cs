namespace Belay.Core.IO;

/// <summary>
/// When a long-running process gives its executable's pages back again (<see cref="StartupPages"/>) after
/// one-time work. Start-up's release leaves resident what the steady loop uses; work that runs once later (a
/// deploy: fetch, extraction, hooks, health checks; a changed manifest verified; an update staged; a hub
/// connection set up; a programs.conf reload) faults its own code and data windows back in, and they would stay.
/// The rules, each a guard on the one before:
/// <list type="number">
/// <item>Nothing before start-up's own release (<see cref="Released"/> not yet called): start-up is not over.</item>
/// <item>Only when some one-time work was noted (<see cref="WorkHappened"/>) since the last release: an idle
/// process never releases again, so its steady loop costs nothing more.</item>
/// <item>Not while work is still going on (the caller's <c>busy</c>, e.g. a deploy in progress), nor within
/// <see cref="Settle"/> of the last work noted: what a step does next would fault straight back in.</item>
/// <item>Not sooner than <see cref="Spacing"/> after the last release: a host that deploys or reloads over and
/// over pays for one release a minute at most (reading smaps and the few dozen minor faults of the loop's
/// windows coming back).</item>
/// </list>
/// The caller asks <see cref="Due"/> where it already wakes (the agent's poll; the keeper's events, and one tick at
/// <see cref="DueAt"/> after work), so an idle process gets no timer; work may be noted from any thread.
/// </summary>
public sealed class PageReleaseSchedule
{
    /// <summary>The least time between two releases.</summary>
    public static readonly TimeSpan Spacing = TimeSpan.FromMinutes(1);

    /// <summary>How long after the last work noted a release waits.</summary>
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(5);

    private readonly TimeProvider _clock;
    private readonly object _lock = new();
    private DateTimeOffset? _releasedAt;
    private DateTimeOffset? _workAt;

    public PageReleaseSchedule(TimeProvider clock)
    {
        _clock = clock;
    }

    /// <summary>How many releases <see cref="Due"/> and <see cref="DueAtCollection"/> allowed (start-up's own not counted).</summary>
    public int Releases { get; private set; }

    /// <summary>Start-up's own release happened (<see cref="Released"/> was called).</summary>
    public bool StartupReleased
    {
        get
        {
            lock (_lock)
            {
                return _releasedAt is not null;
            }
        }
    }

    /// <summary>One-time work ran (or is running) now.</summary>
    public void WorkHappened()
    {
        lock (_lock)
        {
            _workAt = _clock.GetUtcNow();
        }
    }

    /// <summary>The pages were given back now (start-up's release, or one <see cref="Due"/> allowed): work before it is forgotten.</summary>
    public void Released()
    {
        lock (_lock)
        {
            _releasedAt = _clock.GetUtcNow();
            _workAt = null;
        }
    }

    /// <summary>
    /// When work is pending, the earliest time <see cref="Due"/> can say yes (for a process with no poll of its own
    /// to wake at, like the keeper); null when nothing is pending.
    /// </summary>
    public DateTimeOffset? DueAt
    {
        get
        {
            lock (_lock)
            {
                if (_releasedAt is not { } releasedAt || _workAt is not { } workAt)
                {
                    return null;
                }
                var spaced = releasedAt + Spacing;
                var settled = workAt + Settle;
                return spaced > settled ? spaced : settled;
            }
        }
    }

    /// <summary>
    /// At a periodic collection (the agent's, every ten minutes), whether the pages go back with it: what runs every few
    /// minutes (a pool's scavenging, the root store's reload, the collection itself) ranks low in an order file made of
    /// one-minute windows and would stay resident until the next one-time work, which an idle process never has. True
    /// once start-up's release happened, while no work is going on (<paramref name="busy"/>) and none was noted within
    /// <see cref="Settle"/>; <see cref="Spacing"/> is not asked (the caller's period is longer). A true answer records
    /// the release, and the work noted before it is forgotten, as with <see cref="Due"/>.
    /// </summary>
    public bool DueAtCollection(Func<bool> busy)
    {
        lock (_lock)
        {
            if (_releasedAt is null)
            {
                return false;
            }
            var now = _clock.GetUtcNow();
            if ((_workAt is { } workAt && now - workAt < Settle) || busy())
            {
                return false;
            }
            _releasedAt = now;
            _workAt = null;
            Releases++;
            return true;
        }
    }

    /// <summary>
    /// True when the pages should go back now, by the rules above; the caller then releases (and need not call
    /// <see cref="Released"/>: a true answer records the release). <paramref name="busy"/> is asked only when
    /// work is pending, so an idle loop pays two field reads.
    /// </summary>
    public bool Due(Func<bool> busy)
    {
        lock (_lock)
        {
            if (_releasedAt is not { } releasedAt || _workAt is not { } workAt)
            {
                return false;
            }
            var now = _clock.GetUtcNow();
            if (now - releasedAt < Spacing || now - workAt < Settle || busy())
            {
                return false;
            }
            _releasedAt = now;
            _workAt = null;
            Releases++;
            return true;
        }
    }
}
