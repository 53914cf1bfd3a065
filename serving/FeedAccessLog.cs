using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Belay.Serving;

/// <summary>
/// One access-log line per request, once its answer is out:
/// <c>127.0.0.1:50312 "GET /root.json HTTP/1.1" 200 1234 3ms</c>, then the handler's reason
/// for a refusal in parentheses (<c>(dot segment)</c>, <c>(symlink leaves the feed)</c>), and
/// <c>aborted: …</c> when the connection ended before the whole answer was sent. The byte
/// count is the body handed to the connection. The target is written as the client sent it,
/// with control and non-ASCII bytes escaped (<c>\x01</c>), so a request cannot forge log lines. Requests that Kestrel
/// refuses before they reach the application are logged by <see cref="KestrelEventLog"/>.
/// </summary>
internal sealed class FeedAccessLog(Action<string> sink, TimeProvider time)
{
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var started = time.GetTimestamp();
        var record = new FeedAccessRecord();
        context.Features.Set(record);
        var aborted = "";
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away while the file was hashed or sent: that request is over.
        }
        finally
        {
            if (context.RequestAborted.IsCancellationRequested)
            {
                aborted = " aborted: the connection closed before the answer was sent";
            }
            Write(context, record, time.GetElapsedTime(started), aborted);
        }
    }

    private void Write(HttpContext context, FeedAccessRecord record, TimeSpan elapsed, string aborted)
    {
        var request = context.Request;
        var connection = context.Connection;
        var remote = connection.RemoteIpAddress is { } address ? new IPEndPoint(address, connection.RemotePort).ToString() : "-";
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path.Value ?? "";
        var bytes = record.BodyBytes is { } counted ? counted.ToString(CultureInfo.InvariantCulture)
            : aborted.Length > 0 ? "-"
            : HttpMethods.IsHead(request.Method) ? "0"
            : (context.Response.ContentLength ?? 0).ToString(CultureInfo.InvariantCulture);
        var note = record.Note is null ? "" : $" ({record.Note})";
        KestrelEventLog.Emit(sink, string.Create(CultureInfo.InvariantCulture,
            $"{remote} \"{request.Method} {KestrelEventLog.Printable(target)} {request.Protocol}\" {context.Response.StatusCode} {bytes} {elapsed.TotalMilliseconds:0}ms{note}{aborted}"));
    }
}

/// <summary>What the handler tells the access log about one request.</summary>
internal sealed class FeedAccessRecord
{
    /// <summary>Why the request was refused or cut; null when it was not.</summary>
    public string? Note { get; set; }

    /// <summary>The body bytes handed to the connection, when the handler counted them.</summary>
    public long? BodyBytes { get; set; }
}
