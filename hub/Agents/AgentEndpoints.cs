using System.Text.Json;
using Belay.Core.Hub;
using Belay.Hub.Api;
using Belay.Hub.Logs;
using Belay.Hub.Security;
using Belay.Hub.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using ILogger = Serilog.ILogger;

namespace Belay.Hub.Agents;

/// <summary>
/// <c>/agent/v1/…</c>: the only paths an agent can use, and only with its own credential (never
/// an operator's session or token, which the operator side alone accepts):
/// <list type="bullet">
/// <item><c>POST /agent/v1/enroll</c> exchanges an enrollment token for a host credential, once
/// per use of the token (rate-limited per address);</item>
/// <item><c>GET /agent/v1/connect</c>, a WebSocket, with <c>Authorization: Bearer &lt;credential&gt;</c>.</item>
/// </list>
/// </summary>
internal static class AgentEndpoints
{
    public const string EnrollRateLimit = "enroll";

    public static void MapAgents(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/agent/v1");
        group.MapPost("/enroll", EnrollAsync).RequireRateLimiting(EnrollRateLimit);
        group.Map("/connect", ConnectAsync);
    }

    private static async Task<Results<Ok<EnrollResponse>, JsonHttpResult<HubError>>> EnrollAsync(HttpContext context, IHubStore store, TimeProvider clock, ILogger log,
        CancellationToken cancellationToken)
    {
        EnrollRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(context.Request.Body, HubJsonContext.Default.EnrollRequest, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException)
        {
            request = null;
        }
        if (request is null || string.IsNullOrEmpty(request.Token))
        {
            return Error(StatusCodes.Status400BadRequest, "bad-request", "the body must be JSON: {\"token\": \"bhe_…\", \"host\": {…}}");
        }
        var facts = request.Host ?? new HelloHost();
        var now = clock.GetUtcNow();
        var credential = HubSecrets.New(HubSecrets.CredentialPrefix);
        var host = new HostRecord
        {
            Id = HubSecrets.NewId(),
            CredentialHash = HubSecrets.Hash(credential),
            Group = "",
            EnrolledAt = now,
            Hostname = Clip(facts.Hostname, 255),
            BelayId = Clip(facts.Id, 64),
            Version = Clip(request.Version, 64),
            Rid = Clip(request.Rid, 32),
            Os = Clip(facts.Os, 200),
            MacsJson = JsonSerializer.Serialize((facts.Macs ?? []).Take(64).Select(m => Clip(m, 32)).ToList(), HubApiJsonContext.Default.ListString),
        };
        var tokenHash = HubSecrets.Hash(request.Token);
        var outcome = request.Token.StartsWith(HubSecrets.EnrollPrefix, StringComparison.Ordinal)
            ? await store.EnrollAsync(tokenHash, host, now, cancellationToken).ConfigureAwait(false)
            : new EnrollOutcome(EnrollFailure.Unknown, "");
        var remote = context.Connection.RemoteIpAddress?.ToString();
        if (outcome.Failure != EnrollFailure.None)
        {
            log.Warning("enrollment refused for {Hostname} from {Remote}: {Why}", host.Hostname, remote, outcome.Failure);
            return outcome.Failure switch
            {
                EnrollFailure.Expired => Error(StatusCodes.Status403Forbidden, "expired", "the enrollment token has expired: ask the hub admin for a new one (belay-hub token create)"),
                EnrollFailure.UsedUp => Error(StatusCodes.Status403Forbidden, "used-up", "the enrollment token has been used as many times as it allows: ask the hub admin for a new one (belay-hub token create --uses N)"),
                EnrollFailure.Revoked => Error(StatusCodes.Status403Forbidden, "revoked", "the enrollment token was revoked: ask the hub admin for a new one"),
                _ => Error(StatusCodes.Status401Unauthorized, "unknown-token", "the hub does not know this enrollment token: check it was copied whole, and that this is the hub that made it"),
            };
        }
        await store.AddAuditAsync(new AuditRecord(0, now, "enrollment", "host.enroll", host.Id, host.Hostname, remote, $"group {outcome.Group}"), cancellationToken)
            .ConfigureAwait(false);
        log.Information("enrolled host {Host} ({Hostname}) in group {Group} from {Remote}", host.Id, host.Hostname, outcome.Group, remote);
        return TypedResults.Ok(new EnrollResponse { HostId = host.Id, Credential = credential, Group = outcome.Group });
    }

    private static async Task<Results<EmptyHttpResult, JsonHttpResult<HubError>>> ConnectAsync(HttpContext context, IHubStore store, AgentRegistry agents,
        TailSessions tails, StateWriter states, Cluster.IHubCluster cluster, TimeProvider clock, ILogger log, IHostApplicationLifetime lifetime)
    {
        var header = context.Request.Headers.Authorization.ToString();
        var credential = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..].Trim() : "";
        if (!credential.StartsWith(HubSecrets.CredentialPrefix, StringComparison.Ordinal))
        {
            return Error(StatusCodes.Status401Unauthorized, "unauthorized", "an agent connects with its host credential: Authorization: Bearer bhc_…");
        }
        var host = await store.FindHostByCredentialAsync(HubSecrets.Hash(credential), context.RequestAborted).ConfigureAwait(false);
        var remote = context.Connection.RemoteIpAddress?.ToString() ?? "?";
        if (host is null || host.RevokedAt is not null)
        {
            log.Warning("refused an agent connection from {Remote}: {Why}", remote, host is null ? "unknown credential" : $"host {host.Id} is revoked");
            return Error(StatusCodes.Status401Unauthorized, host is null ? "unauthorized" : "revoked",
                host is null ? "the hub does not know this credential" : "this host was revoked: enroll it again with a new token");
        }
        if (!context.WebSockets.IsWebSocketRequest)
        {
            return Error(StatusCodes.Status400BadRequest, "bad-request", "/agent/v1/connect is a WebSocket");
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        using var connection = new AgentConnection(host.Id, remote, socket, tails, states, store, cluster, log, clock);
        agents.Register(connection);
        log.Information("host {Host} ({Hostname}) connected from {Remote}", host.Id, host.Hostname, remote);
        try
        {
            await cluster.HoldAsync(connection, context.RequestAborted).ConfigureAwait(false);
            await connection.RunAsync(lifetime.ApplicationStopping).ConfigureAwait(false);
        }
        finally
        {
            agents.Unregister(connection);
            if (agents.Find(host.Id) is null)
            {
                states.Disconnected(host.Id);
            }
            tails.EndAll(connection, "the host disconnected");
            await cluster.ReleaseAsync(connection).ConfigureAwait(false);
            try
            {
                await store.RecordSeenAsync(host.Id, clock.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Core.BelayException e)
            {
                log.Warning("host {Host}: last seen not recorded: {Error}", host.Id, e.Message);
            }
            log.Information("host {Host} ({Hostname}) disconnected{Why}", host.Id, host.Hostname,
                connection.ClosedBecause is { } why ? $": {why}" : "");
        }
        return TypedResults.Empty;
    }

    private static JsonHttpResult<HubError> Error(int status, string code, string message) =>
        TypedResults.Json(new HubError { Error = message, Code = code }, HubJsonContext.Default.HubError, statusCode: status);

    private static string Clip(string? text, int max) => text is null ? "" : text.Length <= max ? text : text[..max];
}
