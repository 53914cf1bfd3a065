using System.Globalization;
using System.Runtime.InteropServices;

namespace Belay.Core.IO;

/// <summary>
/// Gives the kernel back the pages of this process's own executable that only start-up used.
/// A NativeAOT process reads its whole dehydrated type data (read-only data) once, to unpack it,
/// and the kernel maps code and read-only pages 64 KiB around each fault from a file that is
/// still in the page cache (a version just extracted, a binary just installed), so after start-up
/// most of the executable is resident although the keeper's and the agent's steady loops use a
/// fraction of it. <c>madvise(MADV_DONTNEED)</c> on the executable's read-only, file-backed
/// mappings unmaps those pages from this process; whatever the loop still uses faults back in
/// from the page cache at the next touch (a minor fault: no I/O, no change in behaviour).
/// Safety: only mappings of the executable that are not writable and hold no anonymous
/// (copy-on-write, e.g. relocated RELRO) pages are advised: for them the file is the only
/// content, so nothing can be lost. Linux only; elsewhere, and on any error, it does nothing.
/// </summary>
public static partial class StartupPages
{
    private const int MadvDontNeed = 4;

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int MAdvise(nint address, nuint length, int advice);

    /// <summary>Drops the resident pages described above; returns the kB it let go (as /proc counted them before).</summary>
    public static long Release()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }
        try
        {
            var exe = Environment.ProcessPath;
            if (exe is null)
            {
                return 0;
            }
            long released = 0;
            foreach (var m in ReadMappings(File.ReadAllLines("/proc/self/smaps"), exe))
            {
                if (m.Writable || m.AnonymousKb > 0 || m.RssKb == 0)
                {
                    continue;
                }
                if (MAdvise((nint)m.Start, (nuint)(m.End - m.Start), MadvDontNeed) == 0)
                {
                    released += m.RssKb;
                }
            }
            return released;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return 0;
        }
    }

    internal sealed record Mapping(ulong Start, ulong End, bool Writable)
    {
        public long RssKb { get; set; }
        public long AnonymousKb { get; set; }
    }

    /// <summary>The mappings of <paramref name="exe"/> in /proc/PID/smaps text, with their Rss and Anonymous fields.</summary>
    internal static List<Mapping> ReadMappings(IEnumerable<string> smaps, string exe)
    {
        var result = new List<Mapping>();
        Mapping? current = null;
        foreach (var line in smaps)
        {
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var dash = line.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0 && space > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var start))
            {
                // "start-end perms offset dev inode   path"
                var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                current = null;
                if (fields.Length == 6 && fields[5].Trim() == exe && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var end))
                {
                    current = new Mapping(start, end, fields[1].Contains('w', StringComparison.Ordinal));
                    result.Add(current);
                }
                continue;
            }
            if (current is null)
            {
                continue;
            }
            if (line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                current.RssKb = Kb(line);
            }
            else if (line.StartsWith("Anonymous:", StringComparison.Ordinal))
            {
                current.AnonymousKb = Kb(line);
            }
        }
        return result;
    }

    private static long Kb(string line) =>
        long.Parse(line.AsSpan(line.IndexOf(':', StringComparison.Ordinal) + 1).Trim().ToString().Split(' ')[0], CultureInfo.InvariantCulture);
}
