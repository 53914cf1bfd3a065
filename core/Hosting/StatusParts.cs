namespace Belay.Core.Hosting;

// The parts of `belay status --json` that the agent's `state` message to its hub carries too
// (DESIGN.md keeps their keys stable): one type each, so that the two documents cannot drift.

/// <summary>The keeper's process, when it runs.</summary>
public sealed class KeeperReport
{
    public int Pid { get; set; }
}

/// <summary>The agent's process and whether it reported ready.</summary>
public sealed class AgentReport
{
    public int? Pid { get; set; }
    public bool Ready { get; set; }
}

/// <summary>The host's facts as reported: its Belay id, name, OS, CPU, RID and MAC addresses.</summary>
public sealed class HostReport
{
    public string Id { get; set; } = "";
    public string Hostname { get; set; } = "";
    public string Os { get; set; } = "";
    public string Arch { get; set; } = "";
    public string Rid { get; set; } = "";
    public List<string> Macs { get; set; } = [];

    public static HostReport From(HostFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        return new HostReport { Id = facts.Id, Hostname = facts.Hostname, Os = facts.Os, Arch = facts.Arch, Rid = facts.Rid, Macs = [.. facts.Macs] };
    }
}
