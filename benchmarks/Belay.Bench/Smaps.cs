using System.Globalization;

namespace Belay.Bench;

/// <summary>
/// Where one process's PSS goes, from /proc/PID/smaps, in kB per category:
/// <list type="bullet">
/// <item><c>text</c>, <c>read-only data</c>: the executable's own mapped pages (code; rodata, the
/// dehydrated data NativeAOT unpacks at start, exception tables), as far as they are resident;</item>
/// <item><c>unpacked data</c>: its writable data, .bss and the .hydrated section NativeAOT fills
/// at start (private to each process, the size of the executable's type data);</item>
/// <item><c>GC heap</c>: committed pages in the runtime's GC reservation (heap and bookkeeping);</item>
/// <item><c>malloc</c>: [heap] and glibc's per-thread arenas (OpenSSL's state lives here);</item>
/// <item><c>TLS libraries</c>: libssl and libcrypto's own pages;</item>
/// <item><c>stacks</c>: the main stack and thread stacks (a guard page, then the stack);</item>
/// <item><c>other libraries</c>, <c>other</c>: libc, ld.so, the rest of anonymous memory.</item>
/// </list>
/// A heuristic over the mappings' shapes (glibc arenas are 64 MiB-aligned reservations, thread
/// stacks follow a guard page, the GC reserves gigabytes at once), good enough to show where a
/// change in the total came from; the categories add up to the process's PSS.
/// </summary>
internal static class Smaps
{
    public static readonly string[] Categories =
        ["text", "read-only data", "unpacked data", "GC heap", "malloc", "TLS libraries", "stacks", "other libraries", "other"];

    private const long Arena = 64L << 20;

    private sealed record Mapping(ulong Start, ulong End, string Perms, string Path)
    {
        public long PssKb { get; set; }
        public string? Kind { get; set; }
        public ulong Size => End - Start;
        public bool Anonymous => Path.Length == 0;
    }

    /// <summary>kB of PSS per category, or null when the process is gone.</summary>
    public static Dictionary<string, long>? Read(int pid)
    {
        string exe;
        string[] lines;
        try
        {
            exe = new FileInfo($"/proc/{pid}/exe").LinkTarget ?? "";
            lines = File.ReadAllLines($"/proc/{pid}/smaps");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var maps = new List<Mapping>();
        foreach (var line in lines)
        {
            if (line.StartsWith("Pss:", StringComparison.Ordinal) && maps.Count > 0)
            {
                maps[^1].PssKb = long.Parse(line.AsSpan(4).Trim().ToString().Split(' ')[0], CultureInfo.InvariantCulture);
                continue;
            }
            var dash = line.IndexOf('-', StringComparison.Ordinal);
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (dash <= 0 || space <= dash || !ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var start) ||
                !ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var end))
            {
                continue;
            }
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            maps.Add(new Mapping(start, end, fields[1], fields.Length > 5 ? fields[5].Trim() : ""));
        }
        Classify(maps, exe);
        var result = Categories.ToDictionary(c => c, _ => 0L);
        foreach (var m in maps)
        {
            result[m.Kind ?? "other"] += m.PssKb;
        }
        return result;
    }

    private static void Classify(List<Mapping> maps, string exe)
    {
        var lastExe = maps.FindLastIndex(m => m.Path == exe);
        for (var i = 0; i < maps.Count; i++)
        {
            var m = maps[i];
            if (m.Path == exe)
            {
                m.Kind = m.Perms.Contains('x', StringComparison.Ordinal) ? "text" : m.Perms.StartsWith("r-", StringComparison.Ordinal) ? "read-only data" : "unpacked data";
            }
            else if (m.Path == "[heap]")
            {
                m.Kind = "malloc";
            }
            else if (m.Path == "[stack]")
            {
                m.Kind = "stacks";
            }
            else if (m.Path.Contains("libssl", StringComparison.Ordinal) || m.Path.Contains("libcrypto", StringComparison.Ordinal))
            {
                m.Kind = "TLS libraries";
            }
            else if (m.Path.StartsWith('['))
            {
                m.Kind = "other";
            }
            else if (!m.Anonymous)
            {
                m.Kind = "other libraries";
            }
        }
        for (var i = 0; i < maps.Count; i++)
        {
            var m = maps[i];
            if (m.Kind is not null || !m.Anonymous)
            {
                continue;
            }
            var next = i + 1 < maps.Count && maps[i + 1].Anonymous && maps[i + 1].Start == m.End ? maps[i + 1] : null;
            var previous = i > 0 && maps[i - 1].Anonymous && maps[i - 1].End == m.Start ? maps[i - 1] : null;
            if (lastExe >= 0 && i == lastExe + 1 && maps[lastExe].End == m.Start)
            {
                m.Kind = "unpacked data"; // .bss and .hydrated, right after the executable's data
            }
            else if (m.Perms.StartsWith("rw", StringComparison.Ordinal) && m.Start % Arena == 0 && next is { Perms: "---p" } && next.End - m.Start == Arena)
            {
                m.Kind = next.Kind = "malloc";
            }
            else if (m.Perms.StartsWith("rw", StringComparison.Ordinal) && previous is { Perms: "---p", Kind: null or "stacks" } && previous.Size <= 64 << 10)
            {
                m.Kind = previous.Kind = "stacks";
            }
        }
        // The GC: what is left in a contiguous run of anonymous mappings that holds a reservation of a gigabyte or more.
        for (var i = 0; i < maps.Count;)
        {
            if (!maps[i].Anonymous)
            {
                i++;
                continue;
            }
            var j = i;
            while (j + 1 < maps.Count && maps[j + 1].Anonymous && maps[j + 1].Start == maps[j].End)
            {
                j++;
            }
            if (maps.Skip(i).Take(j - i + 1).Any(m => m.Size >= 1UL << 30))
            {
                foreach (var m in maps.Skip(i).Take(j - i + 1).Where(m => m.Kind is null))
                {
                    m.Kind = "GC heap";
                }
            }
            i = j + 1;
        }
    }
}
