using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Belay.Core.IO;

/// <summary>
/// Gives the kernel back the pages of this process's own executable that only start-up used.
/// A NativeAOT process reads its whole dehydrated type data (read-only data) once, to unpack it,
/// and the kernel maps code and read-only pages 64 KiB around each fault from a file that is
/// still in the page cache (a version just extracted, a binary just installed), so after start-up
/// most of the executable is resident although the keeper's and the agent's steady loops use a
/// fraction of it. <c>madvise(MADV_DONTNEED)</c> on the executable's read-only, file-backed
/// mappings unmaps those pages from this process; whatever the loop still uses faults back in
/// again at the next touch.
/// The read-only data needs more: the kernel maps every page of the file that the page cache holds within 64 KiB of
/// a fault (and reads ahead to fill it), so a loop that reads a few scattered constants a minute had most of it
/// resident again within minutes. Those mappings are also marked <c>MADV_RANDOM</c> (no read-ahead on a fault), paged
/// out (<c>MADV_PAGEOUT</c>: unmapped and taken out of the page cache, a large folio split; the kernel does that only
/// for pages no other process maps and for the file's owner or root, else nothing), and what is left of them in the
/// page cache and mapped by no one is dropped (<c>posix_fadvise(POSIX_FADV_DONTNEED)</c>, which never touches a mapped
/// or dirty page): a later fault reads and maps the one page it needs (on a tmpfs the file's pages are its storage
/// and stay in the cache: there this gains nothing and costs nothing). Code cannot be held to that: the kernel reads
/// an executable mapping ahead whatever its advice (Linux 6.18, measured: 64 scattered touches of a 10 MB mapping
/// made 4,080 kB resident, 64 KiB a touch, with PROT_EXEC whether MADV_RANDOM, POSIX_FADV_RANDOM or neither was given,
/// and 256 kB, one page a touch, without it), so code is only unmapped, and what keeps it small is the order file
/// (docs/architecture.md, "Ninth round").
/// The TLS libraries (libssl, libcrypto) are given back too, for the same reason: a process that keeps its one
/// connection open ran their handshake, certificate and root-store code once, and held it resident from then on
/// (measured on a bench agent, Linux 6.18, OpenSSL 3.5: 4.7 MB of their mappings resident; after MADV_DONTNEED, 1.7 MB
/// came back over the next minutes of polling and stayed there). They are shared with other processes, so this process
/// only unmaps its own view: no page-out, no page-cache advice (the pages stay cached for everyone else), and their
/// read-only data is marked random so that a fault maps the page it needs.
/// Safety: only mappings that are not writable and hold no anonymous
/// (copy-on-write, e.g. relocated RELRO) pages are advised: for them the file is the only
/// content, so nothing can be lost. Linux only; elsewhere, and on any error, it does nothing.
/// </summary>
public static partial class StartupPages
{
    private const int MadvRandom = 1;
    private const int MadvDontNeed = 4;
    private const int MadvPageOut = 21;
    private const int PosixFadvDontNeed = 4;

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int MAdvise(nint address, nuint length, int advice);

    // off_t is 64 bits on every Linux RID Belay ships (x64, arm64; glibc and musl).
    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int PosixFAdvise(nint fd, long offset, long length, int advice);

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
            var smaps = File.ReadAllLines("/proc/self/smaps");
            using var file = File.OpenHandle("/proc/self/exe", FileMode.Open, FileAccess.Read);
            foreach (var m in ReadMappings(smaps, exe))
            {
                if (IsClean(m) && GiveBack(m, file))
                {
                    released += m.RssKb;
                }
            }
            foreach (var m in ReadMappings(smaps, IsTlsLibrary))
            {
                if (IsClean(m) && GiveBackShared(m))
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

    /// <summary>
    /// Unmaps one clean mapping of <paramref name="file"/> (/proc/self/exe in <see cref="Release"/>: the file this process
    /// runs even when its path was since replaced by an update or removed); a mapping that is not code is also paged out
    /// and dropped from the page cache (see above). True when the pages were unmapped; each other step is advice, and
    /// a failure of one only leaves it undone.
    /// </summary>
    internal static bool GiveBack(Mapping m, SafeFileHandle file)
    {
        var length = (nuint)(m.End - m.Start);
        if (!m.Executable)
        {
            // Random first: what runs from here on faults back one page at a time.
            _ = MAdvise((nint)m.Start, length, MadvRandom);
            _ = MAdvise((nint)m.Start, length, MadvPageOut);
        }
        var unmapped = MAdvise((nint)m.Start, length, MadvDontNeed) == 0;
        if (!m.Executable)
        {
            _ = PosixFAdvise(file.DangerousGetHandle(), (long)m.Offset, (long)length, PosixFadvDontNeed);
        }
        return unmapped;
    }

    /// <summary>Not writable, no copy-on-write pages, something resident: the file is its only content.</summary>
    internal static bool IsClean(Mapping m) => !m.Writable && m.AnonymousKb == 0 && m.RssKb > 0;

    /// <summary>OpenSSL's libssl and libcrypto, by file name (libssl.so.3, libcrypto.so.3, and any later soname).</summary>
    internal static bool IsTlsLibrary(string path)
    {
        var name = Path.GetFileName(path);
        return name.StartsWith("libssl.so", StringComparison.Ordinal) || name.StartsWith("libcrypto.so", StringComparison.Ordinal);
    }

    /// <summary>
    /// Unmaps this process's view of one clean mapping of a shared library; its read-only data is marked random first.
    /// Nothing is paged out or dropped from the page cache: other processes use the same pages.
    /// </summary>
    internal static bool GiveBackShared(Mapping m)
    {
        var length = (nuint)(m.End - m.Start);
        if (!m.Executable)
        {
            _ = MAdvise((nint)m.Start, length, MadvRandom);
        }
        return MAdvise((nint)m.Start, length, MadvDontNeed) == 0;
    }

    internal sealed record Mapping(ulong Start, ulong End, bool Writable, bool Executable, ulong Offset)
    {
        public long RssKb { get; set; }
        public long AnonymousKb { get; set; }
    }

    /// <summary>The mappings of <paramref name="exe"/> in /proc/PID/smaps text, with their Rss and Anonymous fields.</summary>
    internal static List<Mapping> ReadMappings(IEnumerable<string> smaps, string exe) => ReadMappings(smaps, path => path == exe);

    /// <summary>The mappings of the files <paramref name="belongs"/> accepts (by path) in /proc/PID/smaps text.</summary>
    internal static List<Mapping> ReadMappings(IEnumerable<string> smaps, Func<string, bool> belongs)
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
                if (fields.Length == 6 && belongs(fields[5].Trim()) && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var end))
                {
                    current = new Mapping(
                        start,
                        end,
                        fields[1].Contains('w', StringComparison.Ordinal),
                        fields[1].Contains('x', StringComparison.Ordinal),
                        ulong.Parse(fields[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
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
