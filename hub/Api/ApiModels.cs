using System.Text.Json;
using System.Text.Json.Serialization;

namespace Belay.Hub.Api;

/// <summary>A row of the fleet table (GET /api/v1/hosts).</summary>
internal sealed class HostSummary
{
    public string Id { get; set; } = "";
    public string Hostname { get; set; } = "";
    public string Group { get; set; } = "";
    public string Version { get; set; } = "";
    public bool Connected { get; set; }
    public bool Revoked { get; set; }
    public DateTimeOffset? ConnectedSince { get; set; }
    public DateTimeOffset? LastSeen { get; set; }
    public LastCheckView? LastCheck { get; set; }
    public List<ProgramView> Programs { get; set; } = [];
    public List<AppView> Apps { get; set; } = [];
    public List<string> Macs { get; set; } = [];
    public string Os { get; set; } = "";
    public string Rid { get; set; } = "";
    public DateTimeOffset EnrolledAt { get; set; }

    /// <summary>ok, or problem: a program not running, an app failed, the last feed check failed.</summary>
    public string Health { get; set; } = "ok";
    public List<string> Problems { get; set; } = [];
}

internal sealed class LastCheckView
{
    public DateTimeOffset? At { get; set; }
    public string? Result { get; set; }
    public string? Error { get; set; }
}

internal sealed class ProgramView
{
    public string Name { get; set; } = "";
    public string State { get; set; } = "";
    public int? Pid { get; set; }
    public int Restarts { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public string? LastExit { get; set; }
}

internal sealed class AppView
{
    public string Name { get; set; } = "";
    public string State { get; set; } = "";
    public string? Desired { get; set; }
    public string? Running { get; set; }
    public string? Step { get; set; }
}

/// <summary>GET /api/v1/hosts/{id}: the row, plus the whole state as the host sent it and its deploy history.</summary>
internal sealed class HostDetail
{
    public HostSummary Host { get; set; } = new();
    public JsonElement? State { get; set; }
    public DateTimeOffset? StateAt { get; set; }
    public string? Remote { get; set; }
    public List<DeployView> Deploys { get; set; } = [];
    public List<TailView> Tails { get; set; } = [];
}

internal sealed class DeployView
{
    public string HostId { get; set; } = "";
    public string Hostname { get; set; } = "";
    public string App { get; set; } = "";
    public DateTimeOffset At { get; set; }
    public string? Version { get; set; }
    public string? Result { get; set; }
    public string? Step { get; set; }
    public int? ExitCode { get; set; }
}

internal sealed class TailView
{
    public long Id { get; set; }
    public string Program { get; set; } = "";
    public string Stream { get; set; } = "";
    public string Owner { get; set; } = "";
    public DateTimeOffset OpenedAt { get; set; }
    public bool Reading { get; set; }
}

internal sealed class GroupView
{
    public string Name { get; set; } = "";
    public int Hosts { get; set; }
    public int Connected { get; set; }
    public int Problems { get; set; }
}

internal sealed class AuditView
{
    public long Id { get; set; }
    public DateTimeOffset At { get; set; }
    public string Actor { get; set; } = "";
    public string Action { get; set; } = "";
    public string? HostId { get; set; }
    public string? Target { get; set; }
    public string? Remote { get; set; }
    public string? Detail { get; set; }
}

internal sealed class SessionView
{
    public string User { get; set; } = "";
    public string Role { get; set; } = "";
    public string Method { get; set; } = "";
}

internal sealed class EnrollTokenView
{
    public string Id { get; set; } = "";
    public string Group { get; set; } = "";
    public int UsesLeft { get; set; }
    public int Uses { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public string CreatedBy { get; set; } = "";

    /// <summary>usable, expired, used-up or revoked.</summary>
    public string State { get; set; } = "";
}

internal sealed class CreateEnrollTokenRequest
{
    public string Group { get; set; } = "default";
    public int Uses { get; set; } = 1;
    public string Expires { get; set; } = "24h";
}

internal sealed class NewEnrollToken
{
    public string Id { get; set; } = "";
    public string Token { get; set; } = "";
    public string Group { get; set; } = "";
    public int Uses { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
}

internal sealed class UserView
{
    public string Name { get; set; } = "";
    public string Role { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
}

internal sealed class CreateUserRequest
{
    public string Name { get; set; } = "";
    public string Role { get; set; } = "viewer";
    public string? Password { get; set; }
}

internal sealed class NewUser
{
    public string Name { get; set; } = "";
    public string Role { get; set; } = "";

    /// <summary>The generated password, shown once (null when one was given).</summary>
    public string? Password { get; set; }
}

internal sealed class ApiTokenView
{
    public string Id { get; set; } = "";
    public string User { get; set; } = "";
    public string Name { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public DateTimeOffset? LastUsed { get; set; }
    public bool Revoked { get; set; }
}

internal sealed class CreateApiTokenRequest
{
    public string User { get; set; } = "";
    public string Name { get; set; } = "";
    public string? Expires { get; set; } = "90d";
}

internal sealed class NewApiToken
{
    public string Id { get; set; } = "";
    public string Token { get; set; } = "";
    public string User { get; set; } = "";
    public string Name { get; set; } = "";
    public DateTimeOffset? ExpiresAt { get; set; }
}

internal sealed class Done
{
    public string Result { get; set; } = "";
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    WriteIndented = false)]
[JsonSerializable(typeof(List<HostSummary>))]
[JsonSerializable(typeof(HostDetail))]
[JsonSerializable(typeof(List<GroupView>))]
[JsonSerializable(typeof(List<AuditView>))]
[JsonSerializable(typeof(List<DeployView>))]
[JsonSerializable(typeof(SessionView))]
[JsonSerializable(typeof(List<EnrollTokenView>))]
[JsonSerializable(typeof(CreateEnrollTokenRequest))]
[JsonSerializable(typeof(NewEnrollToken))]
[JsonSerializable(typeof(List<UserView>))]
[JsonSerializable(typeof(CreateUserRequest))]
[JsonSerializable(typeof(NewUser))]
[JsonSerializable(typeof(List<ApiTokenView>))]
[JsonSerializable(typeof(CreateApiTokenRequest))]
[JsonSerializable(typeof(NewApiToken))]
[JsonSerializable(typeof(Done))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(Core.Hub.HubError))]
internal sealed partial class HubApiJsonContext : JsonSerializerContext;
