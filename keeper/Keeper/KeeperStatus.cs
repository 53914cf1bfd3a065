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
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(KeeperStatus))]
internal sealed partial class KeeperJsonContext : JsonSerializerContext;
