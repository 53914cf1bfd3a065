using System.Globalization;
using System.Text.Json;
using Belay.Core;
using Belay.Core.Install;
using Belay.Core.Programs;

namespace Belay.Bootstrapper.Commands;

/// <summary>The programs part of `belay status`: the agent's answer, or its state file when it does not answer.</summary>
internal static class ProgramsStatus
{
    public static async Task<List<ProgramStatus>> ReadAsync(InstallLayout layout, List<string> problems, CancellationToken cancellationToken)
    {
        var paths = ProgramPaths.For(layout);
        if (KeeperChannel.Exists(paths.AgentSocket))
        {
            try
            {
                var reply = await AgentClient.SendAsync(paths, "STATUS", TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                if (reply.StartsWith('['))
                {
                    return JsonSerializer.Deserialize(reply, ProgramsJsonContext.Default.ListProgramStatus) ?? [];
                }
            }
            catch (Exception e) when (e is BelayException or JsonException)
            {
                // Fall back to the state file below.
            }
        }
        var state = ProgramsStateFile.TryLoad(paths.StateFile, out var damaged);
        problems.AddRange(damaged);
        return [.. (state?.Programs ?? []).Where(p => !Belay.Core.Deploy.AppPaths.IsUnit(p.Name)).Select(p => new ProgramStatus
        {
            Name = p.Name,
            State = p.State,
            Pid = p.Pid > 0 ? p.Pid : null,
            StartedAt = p.Pid > 0 ? p.StartedAt : null,
            Restarts = p.Restarts,
            LastExit = p.LastExit,
            Detail = "from the state file: the agent did not answer",
        })];
    }

    public static void Print(IReadOnlyList<ProgramStatus> programs)
    {
        if (programs.Count == 0)
        {
            Console.WriteLine("programs:         -");
            return;
        }
        Console.WriteLine("programs:");
        foreach (var p in programs)
        {
            var uptime = p.UptimeSeconds is { } u ? $"up {TimeSpan.FromSeconds(Math.Floor(u)).ToString("g", CultureInfo.InvariantCulture)}" : "";
            Console.WriteLine($"  {p.Name,-16} {p.State,-9} {(p.Pid is { } pid ? $"pid {pid}" : "-"),-11} {uptime,-14} restarts {p.Restarts,-4} last exit {p.LastExit ?? "-"}{(p.Detail is null ? "" : $" ({p.Detail})")}");
        }
    }
}
