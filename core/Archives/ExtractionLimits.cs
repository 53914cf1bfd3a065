namespace Belay.Core.Archives;

/// <summary>
/// Caps that stop <see cref="ArchiveExtractor"/> as soon as an archive crosses one. They count
/// the bytes actually written, never what a header claims.
/// </summary>
/// <param name="MaxEntries">The most entries (files, directories, anything) an archive may hold.</param>
/// <param name="MaxTotalBytes">The most bytes all files together may hold.</param>
/// <param name="MaxEntryBytes">The most bytes one file may hold.</param>
/// <param name="MaxRatio">The most the bytes written may be, as a multiple of the archive's own size.</param>
/// <param name="MaxReplayBytes">Not a cap: the largest decompressed tar that the first pass keeps in memory for the second, which
/// then need not decompress it again; a larger one is decompressed twice. 0 (the default) keeps nothing: staging an agent
/// (a 10 MB tar, in a process about to hand over) asks for it, a long-running agent deploying an app does not.</param>
public sealed record ExtractionLimits(
    int MaxEntries = 10_000,
    long MaxTotalBytes = 512L * 1024 * 1024,
    long MaxEntryBytes = 256L * 1024 * 1024,
    double MaxRatio = 200,
    int MaxReplayBytes = 0)
{
    /// <summary>The caps used when the caller gives none.</summary>
    public static ExtractionLimits Default { get; } = new();
}
