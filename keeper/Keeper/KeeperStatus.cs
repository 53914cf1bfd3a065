using System.Text.Json.Serialization;

namespace Belay.Keeper;

/// <summary>The keeper's answer to STATUS on its control channel.</summary>
internal sealed class KeeperStatus
{
    public int Pid { get; set; }
    public string Version { get; set; } = "";
    public int? AgentPid { get; set; }
    public string? AgentVersion { get; set; }
    public bool AgentReady { get; set; }

    /// <summary>Exits in a row of the version the keeper keeps starting, each soon after its start (the restart backoff's count).</summary>
    public int AgentExits { get; set; }

    /// <summary>The exit code of the last agent that exited on its own, or null.</summary>
    public int? LastExitCode { get; set; }

    /// <summary>The version the keeper starts: the committed one, or the one on trial.</summary>
    public string? Starting { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(KeeperStatus))]
internal sealed partial class KeeperJsonContext : JsonSerializerContext;
