namespace Belay.Core.IO;

/// <summary>
/// A full, compacting collection that also gives the GC heap's free pages back to the kernel
/// (<see cref="GCCollectionMode.Aggressive"/>), then runs the finalizers it made due, so the
/// native memory behind TLS and X509 handles goes too. A plain collection keeps the pages the
/// heap grew into (start-up's garbage, a deploy's), and an idle agent or keeper allocates so
/// little that they stay for good: measured in the footprint bench, the agent's GC heap went
/// from 3.2 to 1.9 MB (docs/architecture.md, "Seventh round"). Called where a process already
/// gives its executable's pages back (<see cref="StartupPages"/>), and at the agent's periodic
/// collection; never on an idle poll.
/// </summary>
public static class HeapTrim
{
    public static void Collect()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
    }

    /// <summary>
    /// <see cref="Collect"/>, then <see cref="StartupPages.Release"/> (in that order: a collection touches code of its
    /// own): what a process does once start-up or one-time work is over. Returns the kB of the executable given back.
    /// </summary>
    public static long CollectThenReleasePages()
    {
        Collect();
        return StartupPages.Release();
    }
}
