using System.Globalization;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>
/// What the two crash soaks (CrashSoakTests: agent updates; Deploy/DeployCrashSoakTests: app
/// deploys) do to an installation under a prefix: SIGKILL its keeper, its agent or both, and
/// start the keeper again as bootstrapper/Install/DetachedKeeper.cs does for the none service
/// manager.
/// </summary>
internal static class CrashSoak
{
    /// <summary>SIGKILLs the chosen processes ("keeper", "agent", "keeper and agent") that run at this moment; says what it killed.</summary>
    public static string Kill(string prefix, string victim)
    {
        var keeper = InstalledHost.ReadPid(Path.Combine(prefix, "var", "keeper.pid"));
        // The keeper reaps orphans too (programs of a killed agent): its agent is the child named so.
        var agent = keeper is { } k ? Children(k).FirstOrDefault(p => Comm(p) == "belay-agent") : 0;
        var killed = new List<string>();
        if (victim.Contains("agent", StringComparison.Ordinal) && agent > 0 && ExternalTool.IsRunning(agent))
        {
            SigKill(agent);
            killed.Add("agent");
        }
        if (victim.Contains("keeper", StringComparison.Ordinal) && keeper is { } kp && ExternalTool.IsRunning(kp))
        {
            SigKill(kp);
            killed.Add("keeper");
            for (var w = 0; w < 200 && ExternalTool.IsRunning(kp); w++)
            {
                Thread.Sleep(10);
            }
        }
        return killed.Count == 0 ? "nothing running" : string.Join(" and ", killed);
    }

    public static bool KeeperRuns(string prefix) =>
        InstalledHost.ReadPid(Path.Combine(prefix, "var", "keeper.pid")) is { } pid && ExternalTool.IsRunning(pid);

    /// <summary>`belay run --config … --detach`, its output appended to <paramref name="keeperLog"/>.</summary>
    public static void StartKeeper(string prefix, string keeperLog)
    {
        var start = ExternalTool.Run("/bin/sh", ["-c", "exec \"$0\" run --config \"$1\" --detach </dev/null >>\"$2\" 2>&1 &",
            Path.Combine(prefix, "bin", "belay"), Path.Combine(prefix, "etc", "config.json"), keeperLog]);
        Assert.True(start.ExitCode == 0, start.ToString());
    }

    /// <summary>Starts the keeper when none runs (it was killed, or died with its agent).</summary>
    public static void EnsureKeeper(string prefix, string keeperLog)
    {
        if (!KeeperRuns(prefix))
        {
            StartKeeper(prefix, keeperLog);
        }
    }

    private static void SigKill(int pid) => ExternalTool.Run("kill", ["-9", pid.ToString(CultureInfo.InvariantCulture)]);

    private static string Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static IEnumerable<int> Children(int pid)
    {
        try
        {
            return [.. Directory.EnumerateDirectories($"/proc/{pid}/task")
                .SelectMany(t => File.ReadAllText(Path.Combine(t, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Select(c => int.Parse(c, CultureInfo.InvariantCulture))];
        }
        catch (IOException)
        {
            return [];
        }
    }
}
