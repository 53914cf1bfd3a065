using Belay.Core.IO;

namespace Belay.Core.Tests.IO;

public sealed class HeapTrimTests
{
    [Fact]
    public void TheHeapsFreePagesGoBackToTheKernel()
    {
        // Grow the heap with garbage that survives a few collections (so it is promoted and
        // compacted away, not just reset in gen0), then drop it.
        var keep = new List<byte[]>();
        for (var i = 0; i < 8000; i++)
        {
            keep.Add(new byte[8 * 1024]);
        }
        GC.Collect();
        GC.Collect();
        keep.Clear();
        GC.Collect();
        var before = GC.GetGCMemoryInfo(GCKind.Any).TotalCommittedBytes;

        HeapTrim.Collect();

        var after = GC.GetGCMemoryInfo(GCKind.Any).TotalCommittedBytes;
        // 64 MB of garbage; half of it gone is the margin for other tests allocating at the same time.
        Assert.True(after < before - (32L * 1024 * 1024),
            $"committed {before / 1024} kB before and {after / 1024} kB after: the free pages were kept");
    }
}
