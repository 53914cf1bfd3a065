using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Wine;

/// <summary>What the Wine tests share: reading a file Wine may hold open, waiting for a command's answer, and the test programs a prefix runs.</summary>
internal static class WineWaits
{
    /// <summary>The command lines of the test programs (winprog.exe, family.exe) running in this prefix (Wine's processes are Linux processes with WINEPREFIX set).</summary>
    public static List<string> Running(WinePrefix wine)
    {
        var found = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if ((cmdline.Contains("winprog.exe", StringComparison.Ordinal) || cmdline.Contains("family.exe", StringComparison.Ordinal))
                    && File.ReadAllText(Path.Combine(dir, "environ")).Split('\0').Contains("WINEPREFIX=" + wine.Path))
                {
                    found.Add(cmdline.Trim());
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile, or not ours.
            }
        }
        return found;
    }

    /// <summary>A file's text while Wine may still hold it open for writing; "" when it does not exist.</summary>
    public static string ReadShared(string path)
    {
        if (!File.Exists(path))
        {
            return "";
        }
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Runs <paramref name="run"/> until its result is <paramref name="good"/> (two minutes at most) and returns that result.</summary>
    public static ToolResult Until(Func<ToolResult> run, Func<ToolResult, bool> good, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            var result = run();
            if (good(result))
            {
                return result;
            }
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"not within 2 minutes: {what}; the last answer:\n{result}");
            }
            Thread.Sleep(1000);
        }
    }
}
