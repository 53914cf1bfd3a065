using System.Globalization;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Belay.Core.Hub;
using Belay.Core.Programs;
using Belay.Hub.Agents;
using Belay.Hub.Api;
using Belay.Hub.Security;
using Belay.Hub.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Belay.Hub.Logs;

/// <summary>
/// The live log as Server-Sent Events: <c>GET /api/v1/hosts/{id}/logs/{program}?stream=stdout|stderr&amp;lines=N</c>.
/// Events: <c>tail</c> (the tail's id, first), <c>data</c> (<c>{"o": offset, "t": text}</c>), <c>skip</c>
/// (<c>{"o": offset, "n": bytes}</c>: dropped because the reader was slow), <c>end</c>
/// (<c>{"reason": …}</c>). Each data or skip event's id is the byte offset after it, so a browser
/// that reconnects with <c>Last-Event-ID</c> resumes where it was, from the hub's buffer, as long as
/// it comes back within <see cref="TailSessions.DetachedGrace"/>. Conditions of the host (not
/// connected, four live logs already open on it) come as an <c>end</c> event. Every view that
/// opens a tail is recorded in the audit table.
/// </summary>
internal static class LogStreamApi
{
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(15);

    public static void MapLogStreams(this RouteGroupBuilder api)
    {
        api.MapGet("/hosts/{id}/logs/{program}", StreamAsync);
        api.MapPost("/streams/{sid:long}/renew", Renew);
    }

    private static async Task<Results<EmptyHttpResult, NotFound<HubError>, BadRequest<HubError>>> StreamAsync(string id, string program, string? stream, int? lines,
        HttpContext context, ClaimsPrincipal user, IHubStore store, AgentRegistry agents, TailSessions tails, Cluster.IHubCluster cluster, TimeProvider clock)
    {
        var which = stream ?? "stdout";
        if (which is not ("stdout" or "stderr") || !(program == "agent" || ProgramsConfig.IsValidName(program)))
        {
            return TypedResults.BadRequest(new HubError { Error = "give a program (or app, or agent) name and stream=stdout or stderr", Code = "bad-request" });
        }
        var cancel = context.RequestAborted;
        if (await store.GetHostAsync(id, cancel).ConfigureAwait(false) is not { } host)
        {
            return Api.HostsApi.NotFound(id);
        }
        var response = context.Response;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache, no-store";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.WriteAsync("retry: 2000\n\n", cancel).ConfigureAwait(false);

        long? resumeFrom = long.TryParse(context.Request.Headers["Last-Event-ID"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var last) ? last : null;
        var key = TailSession.KeyOf(user.Name(), id, program, which);
        TailSession? session = resumeFrom is null ? null : tails.FindDetached(key);
        var resumed = session is not null && session.TryAttach();
        if (!resumed)
        {
            // The host's connection may be on another hub node: the tail goes through it (PostgreSQL carries it).
            var agent = (ITailUpstream?)agents.Find(id) ?? await cluster.RemoteAsync(id, cancel).ConfigureAwait(false);
            if (agent is null)
            {
                await WriteEventAsync(response, "end", null, End($"host {host.Hostname} ({id}) is not connected to the hub"), cancel).ConfigureAwait(false);
                return TypedResults.Empty;
            }
            // A browser that lost a tail it cannot resume already shows the last lines: only new ones.
            session = tails.Open(agent, program, which, resumeFrom is null ? Math.Clamp(lines ?? 100, 0, TailStreams.MaxLines) : 0, user.Name(), user.CredentialHash());
            if (session is null)
            {
                await WriteEventAsync(response, "end", null,
                    End($"{HubMessages.MaxStreamsPerAgent} live logs are already open on {host.Hostname}: close one (or wait for one to end) and retry"), cancel)
                    .ConfigureAwait(false);
                return TypedResults.Empty;
            }
            session.TryAttach();
            await store.AddAuditAsync(new AuditRecord(0, clock.GetUtcNow(), user.Name(), "log.view", id, $"{program} {which}",
                context.Connection.RemoteIpAddress?.ToString(), $"tail {session.Id}, last {lines ?? 100} lines"), CancellationToken.None).ConfigureAwait(false);
            resumeFrom = 0;
        }
        try
        {
            await WriteEventAsync(response, "tail", null, Open(session!, host.Hostname, resumed), cancel).ConfigureAwait(false);
            await PumpAsync(session!, resumeFrom ?? 0, response, cancel).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }
        catch (IOException)
        {
        }
        finally
        {
            session!.Detach(clock.GetUtcNow());
        }
        return TypedResults.Empty;
    }

    /// <summary>Writes what the tail has after <paramref name="cursor"/>, waits for more, and returns credit for what went out.</summary>
    private static async Task PumpAsync(TailSession session, long cursor, HttpResponse response, CancellationToken cancel)
    {
        var lastWrite = DateTimeOffset.UtcNow;
        while (!cancel.IsCancellationRequested)
        {
            var events = session.Read(cursor, 32 * 1024);
            if (events.Count == 0)
            {
                if (session.Ended)
                {
                    await WriteEventAsync(response, "end", null, End(session.EndReason!), cancel).ConfigureAwait(false);
                    return;
                }
                if (DateTimeOffset.UtcNow - lastWrite >= Heartbeat)
                {
                    await response.WriteAsync(": keepalive\n\n", cancel).ConfigureAwait(false);
                    await response.Body.FlushAsync(cancel).ConfigureAwait(false);
                    lastWrite = DateTimeOffset.UtcNow;
                }
                await session.WaitAsync(cursor, Heartbeat, cancel).ConfigureAwait(false);
                continue;
            }
            long written = 0;
            foreach (var e in events)
            {
                await WriteEventAsync(response, e.IsSkip ? "skip" : "data", e.End, e.IsSkip ? Skip(e) : Data(e), cancel).ConfigureAwait(false);
                written += e.IsSkip ? 0 : e.Bytes;
                cursor = e.End;
            }
            // The flush waits while the browser does not read: no credit goes back meanwhile, so the agent drops.
            await response.Body.FlushAsync(cancel).ConfigureAwait(false);
            lastWrite = DateTimeOffset.UtcNow;
            session.Grant(written, caughtUp: cursor >= session.NextOffset);
        }
    }

    private static Results<Ok<Done>, NotFound<HubError>> Renew(long sid, ClaimsPrincipal user, TailSessions tails)
    {
        if (tails.Find(sid) is not { Ended: false } session || session.Owner != user.Name())
        {
            return TypedResults.NotFound(new HubError { Error = $"no live log {sid} of yours", Code = "not-found" });
        }
        tails.Renew(session);
        return TypedResults.Ok(new Done { Result = $"renewed for {HubMessages.StreamLifetime.TotalMinutes:0} minutes" });
    }

    private static Task WriteEventAsync(HttpResponse response, string type, long? id, string json, CancellationToken cancel)
    {
        var text = new StringBuilder(json.Length + 48);
        if (id is { } value)
        {
            text.Append("id: ").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        text.Append("event: ").Append(type).Append("\ndata: ").Append(json).Append("\n\n");
        return response.WriteAsync(text.ToString(), cancel);
    }

    private static string Data(TailEvent e) => Json(w =>
    {
        w.WriteNumber("o", e.Offset);
        w.WriteString("t", e.Text);
    });

    private static string Skip(TailEvent e) => Json(w =>
    {
        w.WriteNumber("o", e.Offset);
        w.WriteNumber("n", e.Bytes);
    });

    private static string End(string reason) => Json(w => w.WriteString("reason", reason));

    private static string Open(TailSession session, string hostname, bool resumed) => Json(w =>
    {
        w.WriteNumber("id", session.Id);
        w.WriteString("host", session.HostId);
        w.WriteString("hostname", hostname);
        w.WriteString("program", session.Program);
        w.WriteString("stream", session.Stream);
        w.WriteBoolean("resumed", resumed);
        w.WriteNumber("renewEvery", (int)(HubMessages.StreamLifetime.TotalSeconds / 3));
    });

    private static string Json(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
