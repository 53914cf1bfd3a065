using Belay.Core.Feed;
using Belay.Core.IO;
using Belay.Core.Programs;
using Belay.Core.Update;
using Belay.Core.Versioning;

namespace Belay.Core.Install;

/// <summary>One check of an installation's files and, when it failed and can be put right, how.</summary>
/// <param name="Repair">Puts the problem right and says what it did; null when only the operator can (a planted link, a broken config.json).</param>
public sealed record FileCheck(Finding Finding, Func<string>? Repair = null);

/// <summary>
/// `belay doctor`'s look at the files Belay keeps (config.json, state.json, agent.json, trust.json,
/// host-id, the programs' state) and the folders it writes into, each read as the product reads
/// it, and `belay doctor --repair`'s fixes: a damaged state.json is rebuilt
/// (<see cref="InstallStateRepair"/>), a damaged agent.json or trust.json is moved aside (the
/// agent writes a new one; without trust.json the host anchors on its pinned keys again), the
/// programs' state keeps its valid records, and a damaged host id is replaced. A damaged file is
/// never deleted: it is kept beside itself as NAME.damaged for a look.
/// </summary>
public static class InstallFileChecks
{
    public static IReadOnlyList<FileCheck> Check(InstallLayout layout, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        clock ??= TimeProvider.System;
        var checks = new List<FileCheck>();
        foreach (var problem in LayoutGuard.Problems(layout))
        {
            checks.Add(new(new Finding("files", false, problem, "remove it (and check what it pointed at); Belay never makes a link there")));
        }

        try
        {
            var state = InstallStateStore.Load(layout.StateFile);
            checks.Add(new(new Finding("files", true, $"{layout.StateFile}: current {state.Current}{(state.Trial is { } t ? $", trial of {t.Version}" : "")}")));
        }
        catch (JsonFileException e)
        {
            checks.Add(new(new Finding("files", false, e.Message, "belay doctor --repair"), () => RepairState(layout, clock.GetUtcNow())));
        }
        catch (BelayException e) when (!File.Exists(layout.StateFile))
        {
            checks.Add(new(new Finding("files", false, e.Message, "belay doctor --repair"), () => RepairState(layout, clock.GetUtcNow())));
        }

        if (AgentStatus.TryLoad(layout.AgentStatusFile, out var agentProblem) is null && agentProblem is not null)
        {
            checks.Add(new(new Finding("files", false, agentProblem, "belay doctor --repair") { Warning = true }, () => MoveAside(layout.AgentStatusFile)));
        }
        if (TrustState.TryLoad(layout.TrustFile, out var trustProblem) is null && trustProblem is not null)
        {
            checks.Add(new(new Finding("files", false, trustProblem, "belay doctor --repair"), () => MoveAside(layout.TrustFile)));
        }
        if (File.Exists(layout.StateFile) || File.Exists(layout.HostIdFile))
        {
            if (HostId.TryLoad(layout.HostIdFile, out var hostProblem) is null)
            {
                checks.Add(new(new Finding("files", false, hostProblem!, "belay doctor --repair"), () => NewHostId(layout)));
            }
        }
        var programs = ProgramPaths.For(layout).StateFile;
        var records = ProgramsStateFile.TryLoad(programs, out var programProblems);
        if (programProblems.Count > 0)
        {
            checks.Add(new(new Finding("files", false, string.Join("; ", programProblems), "belay doctor --repair"), () => RepairPrograms(programs, records)));
        }
        return checks;
    }

    /// <summary>The versions installed: versions/&lt;v&gt; folders with an agent in them.</summary>
    public static IReadOnlyList<string> InstalledVersions(InstallLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (!Directory.Exists(layout.VersionsDir))
        {
            return [];
        }
        return [.. Directory.EnumerateDirectories(layout.VersionsDir)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(v => SemVersion.TryParse(v, out _, out _) && File.Exists(layout.AgentExe(v)))
            .Order(StringComparer.Ordinal)];
    }

    /// <summary>Rebuilds state.json from what survives (the damaged file is kept as state.json.damaged); says what it chose.</summary>
    public static string RepairState(InstallLayout layout, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(layout);
        byte[] damaged;
        try
        {
            damaged = File.Exists(layout.StateFile) ? File.ReadAllBytes(layout.StateFile) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            damaged = [];
        }
        var repair = InstallStateRepair.Rebuild(damaged, AgentStatus.TryLoad(layout.AgentStatusFile)?.Version, InstalledVersions(layout), now);
        var kept = File.Exists(layout.StateFile) ? KeepCopy(layout.StateFile) : null;
        InstallStateStore.Save(layout.StateFile, repair.State);
        return $"rebuilt {layout.StateFile}: {string.Join("; ", repair.Notes)}{(kept is null ? "" : $" (the damaged file is kept as {kept})")}";
    }

    /// <summary>Moves a damaged file to NAME.damaged; the product writes a new one.</summary>
    public static string MoveAside(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var aside = path + ".damaged";
        Durability.MoveFile(path, aside, overwrite: true);
        return $"moved the damaged {path} to {aside}; a new one is written when next needed";
    }

    private static string KeepCopy(string path)
    {
        var aside = path + ".damaged";
        File.Copy(path, aside, overwrite: true);
        return aside;
    }

    private static string NewHostId(InstallLayout layout)
    {
        var kept = File.Exists(layout.HostIdFile) ? KeepCopy(layout.HostIdFile) : null;
        AtomicFile.WriteAllText(layout.HostIdFile, HostId.New() + "\n");
        return $"wrote a new host id to {layout.HostIdFile}{(kept is null ? "" : $" (the damaged one is kept as {kept})")}; this host is now in another rollout bucket";
    }

    private static string RepairPrograms(string path, ProgramsStateFile? valid)
    {
        var kept = KeepCopy(path);
        if (valid is null)
        {
            Durability.DeleteFile(path);
            return $"removed {path} (kept as {kept}): the agent starts every program afresh; stop by hand any still running from before";
        }
        valid.Save(path);
        return $"rewrote {path} with its {valid.Programs.Count} valid record(s) (the damaged file is kept as {kept}); a program whose record was damaged is started afresh";
    }
}
