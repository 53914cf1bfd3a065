using Belay.Core.IO;

namespace Belay.Core.Tests.IO;

public sealed class StartupPagesTests
{
    private const string Exe = "/opt/belay/versions/1.0.0/belay-agent";

    private static readonly string[] Smaps =
    [
        $"55d0a0000000-55d0a0011000 r--p 00000000 fe:00 42   {Exe}",
        "Rss:                  68 kB",
        "Anonymous:             0 kB",
        $"55d0a0011000-55d0a0534000 r-xp 00011000 fe:00 42   {Exe}",
        "Rss:                4748 kB",
        "Anonymous:             0 kB",
        $"55d0a0d8b000-55d0a0d8d000 r--p 0092d000 fe:00 42   {Exe}",
        "Rss:                   8 kB",
        "Anonymous:             8 kB",
        $"55d0a0d8d000-55d0a0da9000 rw-p 0092e000 fe:00 42   {Exe}",
        "Rss:                 112 kB",
        "Anonymous:           112 kB",
        "55d0a0da9000-55d0a0fcd000 rw-p 00000000 00:00 0 ",
        "Rss:                2136 kB",
        "Anonymous:          2136 kB",
        "7f9d80000000-7f9d80021000 r-xp 00000000 fe:00 7   /usr/lib/x86_64-linux-gnu/libc.so.6",
        "Rss:                  20 kB",
        "Anonymous:             0 kB",
    ];

    [Fact]
    public void OnlyTheExecutablesOwnMappingsAreRead()
    {
        var maps = StartupPages.ReadMappings(Smaps, Exe);
        Assert.Equal(4, maps.Count);
        Assert.Equal(0x55d0a0011000UL, maps[1].Start);
        Assert.Equal(0x55d0a0534000UL, maps[1].End);
        Assert.Equal(4748, maps[1].RssKb);
    }

    [Fact]
    public void RelocatedReadOnlyPagesAndWritableDataAreToldApartFromCleanFilePages()
    {
        // Release() advises only the clean ones: not writable, no anonymous (copy-on-write) pages.
        var maps = StartupPages.ReadMappings(Smaps, Exe);
        var clean = maps.Where(m => !m.Writable && m.AnonymousKb == 0).Select(m => m.Start).ToList();
        Assert.Equal([0x55d0a0000000UL, 0x55d0a0011000UL], clean);
        Assert.True(maps[3].Writable);
        Assert.Equal(8, maps[2].AnonymousKb);
    }

    [Fact]
    public void ReleasingInARunningProcessKeepsItRunning()
    {
        // The test host's own executable: whatever it gave back faults in again as it runs on.
        var released = StartupPages.Release();
        Assert.True(released >= 0);
        Assert.Equal(4, string.Concat("ab", "cd").Length);
    }
}
