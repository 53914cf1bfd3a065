using Belay.Core.Feed;
using Belay.TestSupport;

namespace Belay.Core.Tests.Trust;

/// <summary>What HostileFeedTests (the release feed) and GroupHostileFeedTests (a group's document and app archives) both run.</summary>
internal static class HostileCases
{
    /// <summary>Short limits so that each case ends in seconds: 2000 bytes/s over 1 s windows, 4 s deadlines.</summary>
    public static readonly TransferLimits Limits = new(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(4), 2000, TimeSpan.FromSeconds(1));

    /// <summary>Generous: the limits above end every case in about two seconds.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>Every misbehaviour of <see cref="HostileFeedServer"/> that a download must survive, against each of <paramref name="targets"/>.</summary>
    public static TheoryData<Hostility, string> Attacks(params string[] targets)
    {
        var data = new TheoryData<Hostility, string>();
        foreach (var b in new[] { Hostility.StallBeforeHeaders, Hostility.StallAfterHeaders, Hostility.Trickle, Hostility.Reset, Hostility.ShortBody,
                     Hostility.HugeContentLength, Hostility.Endless, Hostility.Intermittent500 })
        {
            foreach (var target in targets)
            {
                data.Add(b, target);
            }
        }
        return data;
    }
}
