using System.Globalization;

namespace Belay.Bench;

/// <summary>Memory of one process from /proc/PID/smaps_rollup, in kB.</summary>
internal readonly record struct Rollup(long RssKb, long PssKb, long PrivateKb);

/// <summary>CPU time of one process from /proc/PID/stat, in clock ticks: its own and its waited-for children's.</summary>
internal readonly record struct CpuTicks(long Own, long Children)
{
    public long Total => Own + Children;
}

/// <summary>
/// What the footprint benchmark reads from /proc: the process tree under a root pid, each
/// process's smaps_rollup (RSS, PSS, Private_Clean + Private_Dirty) and its stat times
/// (utime + stime, cutime + cstime). Linux only.
/// </summary>
internal static class ProcFs
{
    /// <summary>USER_HZ: the unit of the times in /proc/PID/stat (100 on every Linux the bench targets; read from getconf).</summary>
    public static readonly double TicksPerSecond = ReadClockTicks();

    /// <summary>pid → parent pid for every process now.</summary>
    public static Dictionary<int, int> ParentMap()
    {
        var map = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            if (ReadStatFields(pid) is { } f && int.TryParse(f[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ppid))
            {
                map[pid] = ppid;
            }
        }
        return map;
    }

    /// <summary>The root and all its descendants that exist now (empty when the root is gone).</summary>
    public static List<int> Tree(int root, Dictionary<int, int> parents)
    {
        if (!parents.ContainsKey(root))
        {
            return [];
        }
        var children = new Dictionary<int, List<int>>();
        foreach (var (pid, ppid) in parents)
        {
            if (!children.TryGetValue(ppid, out var list))
            {
                children[ppid] = list = [];
            }
            list.Add(pid);
        }
        var result = new List<int>();
        var stack = new Stack<int>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var pid = stack.Pop();
            result.Add(pid);
            if (children.TryGetValue(pid, out var kids))
            {
                foreach (var k in kids)
                {
                    stack.Push(k);
                }
            }
        }
        return result;
    }

    public static Rollup? ReadRollup(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/smaps_rollup");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        long rss = 0, pss = 0, priv = 0;
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }
            var key = line[..colon];
            var value = line[(colon + 1)..].Trim();
            var space = value.IndexOf(' ', StringComparison.Ordinal);
            if (space > 0)
            {
                value = value[..space];
            }
            if (!long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var kb))
            {
                continue;
            }
            switch (key)
            {
                case "Rss": rss = kb; break;
                case "Pss": pss = kb; break;
                case "Private_Clean":
                case "Private_Dirty": priv += kb; break;
                default: break;
            }
        }
        return new Rollup(rss, pss, priv);
    }

    public static CpuTicks? ReadCpu(int pid)
    {
        if (ReadStatFields(pid) is not { } f)
        {
            return null;
        }
        // Fields after "(comm)": 0 state, 1 ppid, ... 11 utime, 12 stime, 13 cutime, 14 cstime.
        long L(int i) => long.Parse(f[i], NumberStyles.Integer, CultureInfo.InvariantCulture);
        return new CpuTicks(L(11) + L(12), L(13) + L(14));
    }

    public static string Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return "?";
        }
    }

    private static string[]? ReadStatFields(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        // comm may hold spaces and parentheses: the fields start after the last ')'.
        var close = text.LastIndexOf(')');
        return close < 0 ? null : text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }

    private static double ReadClockTicks()
    {
        var r = Shell.Run("getconf", ["CLK_TCK"], timeout: TimeSpan.FromSeconds(5));
        return r.Ok && double.TryParse(r.StdOut.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var hz) && hz > 0 ? hz : 100;
    }
}
