using System.Security.Claims;
using System.Text.Json;
using Belay.Core.Hub;
using Belay.Hub.Agents;
using Belay.Hub.Logs;
using Belay.Hub.Security;
using Belay.Hub.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Belay.Hub.Api;

/// <summary>The fleet as data (the fleet table and the host page read these): hosts, one host, groups, deploy history; poke and revoke for admins.</summary>
internal static class HostsApi
{
    public static void MapHosts(this RouteGroupBuilder api)
    {
        api.MapGet("/hosts", ListAsync);
        api.MapGet("/hosts/{id}", GetAsync);
        api.MapGet("/groups", GroupsAsync);
        api.MapGet("/deploys", DeploysAsync);
        api.MapPost("/hosts/{id}/poke", PokeAsync).RequireAuthorization(HubPolicies.Admin);
        api.MapPost("/hosts/{id}/revoke", RevokeAsync).RequireAuthorization(HubPolicies.Admin);
    }

    private static async Task<Ok<List<HostSummary>>> ListAsync(Fleet fleet, string? group, string? state, string? q, CancellationToken cancellationToken)
    {
        var hosts = await fleet.ListAsync(cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(hosts.Where(h => HostViews.Matches(h, group, state, q)).ToList());
    }

    private static async Task<Results<Ok<HostDetail>, NotFound<HubError>>> GetAsync(string id, Fleet fleet, IHubStore store, AgentRegistry agents, TailSessions tails,
        CancellationToken cancellationToken)
    {
        if (await fleet.GetAsync(id, cancellationToken).ConfigureAwait(false) is not { } found)
        {
            return NotFound(id);
        }
        var detail = new HostDetail
        {
            Host = found.Summary,
            StateAt = found.StateAt,
            Remote = agents.Find(id)?.Remote,
        };
        if (found.StateJson is { } json)
        {
            try
            {
                using var doc = JsonDocument.Parse(json);
                detail.State = doc.RootElement.Clone();
            }
            catch (JsonException)
            {
            }
        }
        detail.Deploys = [.. (await store.ListDeploysAsync(id, 200, cancellationToken).ConfigureAwait(false)).Select(d => Deploy(d, found.Summary.Hostname))];
        detail.Tails = [.. tails.All.Where(t => t.HostId == id && !t.Ended).Select(t => new TailView
        {
            Id = t.Id, Program = t.Program, Stream = t.Stream, Owner = t.Owner, OpenedAt = t.OpenedAt, Reading = t.DetachedAt is null,
        })];
        return TypedResults.Ok(detail);
    }

    private static async Task<Ok<List<GroupView>>> GroupsAsync(Fleet fleet, CancellationToken cancellationToken)
    {
        var hosts = await fleet.ListAsync(cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(hosts.GroupBy(h => h.Group, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => new GroupView
        {
            Name = g.Key,
            Hosts = g.Count(),
            Connected = g.Count(h => h.Connected),
            Problems = g.Count(h => h.Health == "problem"),
        }).ToList());
    }

    private static async Task<Ok<List<DeployView>>> DeploysAsync(IHubStore store, Fleet fleet, string? host, int? limit, CancellationToken cancellationToken)
    {
        var names = (await fleet.ListAsync(cancellationToken).ConfigureAwait(false)).ToDictionary(h => h.Id, h => h.Hostname, StringComparer.Ordinal);
        var deploys = await store.ListDeploysAsync(host, limit ?? 200, cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(deploys.Select(d => Deploy(d, names.GetValueOrDefault(d.HostId, ""))).ToList());
    }

    private static async Task<Results<Ok<Done>, NotFound<HubError>, Conflict<HubError>>> PokeAsync(string id, IHubStore store, AgentRegistry agents,
        Cluster.IHubCluster cluster, ClaimsPrincipal user, HttpContext context, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await store.GetHostAsync(id, cancellationToken).ConfigureAwait(false) is null)
        {
            return NotFound(id);
        }
        // The host's connection may be on another hub node: the poke goes there through the database.
        var agent = (Logs.ITailUpstream?)agents.Find(id) ?? await cluster.RemoteAsync(id, cancellationToken).ConfigureAwait(false);
        if (agent is null)
        {
            return TypedResults.Conflict(new HubError { Error = $"host {id} is not connected", Code = "not-connected" });
        }
        agent.Send(HubMessages.Serialize(new Poke(), HubJsonContext.Default.Poke));
        await store.AddAuditAsync(new AuditRecord(0, clock.GetUtcNow(), user.Name(), "host.poke", id, null, context.Connection.RemoteIpAddress?.ToString(), null),
            cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(new Done { Result = "poked: the host checks its feed now" });
    }

    private static async Task<Results<Ok<Done>, NotFound<HubError>>> RevokeAsync(string id, IHubStore store, AgentRegistry agents, ClaimsPrincipal user, HttpContext context,
        TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await store.GetHostAsync(id, cancellationToken).ConfigureAwait(false) is null)
        {
            return NotFound(id);
        }
        var now = clock.GetUtcNow();
        var revoked = await store.RevokeHostAsync(id, now, cancellationToken).ConfigureAwait(false);
        agents.Find(id)?.Close(HubCloseCodes.Revoked, "this host was revoked");
        await store.AddAuditAsync(new AuditRecord(0, now, user.Name(), "host.revoke", id, null, context.Connection.RemoteIpAddress?.ToString(), null), cancellationToken)
            .ConfigureAwait(false);
        return TypedResults.Ok(new Done { Result = revoked ? "revoked: its connection is closed and its credential refused" : "already revoked" });
    }

    internal static NotFound<HubError> NotFound(string id) => TypedResults.NotFound(new HubError { Error = $"no host {id}", Code = "not-found" });

    private static DeployView Deploy(DeployRecord d, string hostname) => new()
    {
        HostId = d.HostId, Hostname = hostname, App = d.App, At = d.At, Version = d.Version, Result = d.Result, Step = d.Step, ExitCode = d.ExitCode,
    };
}

/// <summary>
/// The fleet as the API shows it: stored hosts, with the fresher state and connection of this node,
/// and the connections the other hub nodes hold (their states are as fresh as their last batch; check times alone up to StateWriter.RefreshEvery old).
/// </summary>
internal sealed class Fleet(IHubStore store, AgentRegistry agents, StateWriter states, Cluster.IHubCluster cluster)
{
    public async Task<List<HostSummary>> ListAsync(CancellationToken cancellationToken)
    {
        var hosts = await store.ListHostsAsync(cancellationToken).ConfigureAwait(false);
        var elsewhere = await cluster.LocateAsync(null, cancellationToken).ConfigureAwait(false);
        return [.. hosts.Select(h => HostViews.Summarize(h, states.Latest(h.Id)?.Json ?? h.StateJson,
            agents.Find(h.Id)?.ConnectedAt ?? elsewhere.GetValueOrDefault(h.Id)?.Since))];
    }

    public async Task<(HostSummary Summary, string? StateJson, DateTimeOffset? StateAt)?> GetAsync(string id, CancellationToken cancellationToken)
    {
        if (await store.GetHostAsync(id, cancellationToken).ConfigureAwait(false) is not { } host)
        {
            return null;
        }
        var latest = states.Latest(id);
        var json = latest?.Json ?? host.StateJson;
        var since = agents.Find(id)?.ConnectedAt ?? (await cluster.LocateAsync([id], cancellationToken).ConfigureAwait(false)).GetValueOrDefault(id)?.Since;
        return (HostViews.Summarize(host, json, since), json, latest?.At ?? host.StateAt);
    }
}
