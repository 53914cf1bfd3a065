using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;
using Microsoft.Win32.SafeHandles;

namespace Belay.Serving;

/// <summary>
/// Answers one request for a file of the feed.
///
/// Ours: GET and HEAD only (405 with Allow); the raw request-target checked by
/// <see cref="FeedRequestPath"/> (400 for escapes, 404 for directories and hidden names);
/// symlinks resolved and kept inside the feed by <see cref="FeedRoot"/>; the content ETag
/// (<see cref="ContentETags"/>); Content-Type and Cache-Control (<see cref="FeedContentPolicy"/>).
/// ASP.NET Core's file result (<see cref="TypedResults.Stream(Stream, string?, string?, DateTimeOffset?, EntityTagHeaderValue?, bool)"/>)
/// does the rest: If-None-Match (weak comparison, "*", lists), If-Modified-Since in whole
/// seconds, If-Match and If-Unmodified-Since (412), Range and If-Range (206, 416), HEAD
/// without a body, Content-Length, Last-Modified.
///
/// The file is opened once: its ETag, its length and the bytes sent all come from that one
/// open file, even if the publisher renames a new one over it meanwhile.
///
/// A download that makes no progress for <paramref name="sendTimeout"/> (a client that stopped
/// reading) is cut. Kestrel's minimum response rate alone does not: it allows the bytes
/// already written, which the socket buffers can hold by the megabyte, at that rate, so a
/// stalled client would keep its connection for hours.
/// </summary>
internal sealed class FeedRequestHandler(FeedRoot root, ContentETags etags, string prefix, TimeSpan sendTimeout)
{
    public const string Allow = "GET, HEAD";

    private const string NoStore = "no-store";

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var method = context.Request.Method;
        if (!HttpMethods.IsGet(method) && !HttpMethods.IsHead(method))
        {
            context.Response.Headers.Allow = Allow;
            await ErrorAsync(context, StatusCodes.Status405MethodNotAllowed, null).ConfigureAwait(false);
            return;
        }

        var target = context.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget;
        var path = FeedRequestPath.Parse(target, prefix);
        if (path.Segments is null)
        {
            await ErrorAsync(context, path.ErrorStatus, path.Error).ConfigureAwait(false);
            return;
        }
        var file = root.Resolve(path.Segments, out var reason);
        if (file is null)
        {
            await ErrorAsync(context, StatusCodes.Status404NotFound, reason).ConfigureAwait(false);
            return;
        }

        SafeFileHandle handle;
        try
        {
            // FileShare.Delete: on Windows a publisher may still rename a new file over this one.
            handle = File.OpenHandle(file, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete,
                FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            await ErrorAsync(context, StatusCodes.Status404NotFound, "vanished").ConfigureAwait(false);
            return;
        }
        catch (UnauthorizedAccessException)
        {
            await ErrorAsync(context, StatusCodes.Status403Forbidden, "not readable").ConfigureAwait(false);
            return;
        }

        var record = context.Features.Get<FeedAccessRecord>();
        long sent = 0;
        using var stalled = new CancellationTokenSource();
        var stream = new MeteredFileStream(new FileStream(handle, FileAccess.Read, bufferSize: 0, isAsync: true), n =>
        {
            sent += n;
            stalled.CancelAfter(sendTimeout);
        });
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                var length = RandomAccess.GetLength(handle);
                var lastWrite = File.GetLastWriteTimeUtc(handle);
                var etag = await etags.GetAsync(file, handle, length, lastWrite, context.RequestAborted).ConfigureAwait(false);
                var relative = path.RelativePath;
                context.Response.OnStarting(SetCaching, (context.Response, FeedContentPolicy.CacheControl(relative)));
                context.Response.Headers.XContentTypeOptions = "nosniff";
                var result = TypedResults.Stream(stream, FeedContentPolicy.ContentType(relative), fileDownloadName: null,
                    lastModified: new DateTimeOffset(lastWrite, TimeSpan.Zero),
                    entityTag: new EntityTagHeaderValue(etag), enableRangeProcessing: true);
                stalled.CancelAfter(sendTimeout);
                using (stalled.Token.Register(() =>
                {
                    Note(context, $"no progress for {sendTimeout.TotalSeconds:0} s: the client stopped reading");
                    context.Abort();
                }))
                {
                    await result.ExecuteAsync(context).ConfigureAwait(false);
                }
            }
            catch (IOException e)
            {
                // The file changed or failed under us. Before the head is out, say so; after,
                // only closing tells the client that the promised length will not come.
                if (context.Response.HasStarted)
                {
                    Note(context, "read failed: " + e.Message);
                    context.Abort();
                }
                else
                {
                    await ErrorAsync(context, StatusCodes.Status500InternalServerError, "read failed: " + e.Message)
                        .ConfigureAwait(false);
                    return;
                }
            }
            finally
            {
                if (record is not null)
                {
                    record.BodyBytes ??= sent;
                }
            }
        }
    }

    /// <summary>The policy's Cache-Control for the file's own answers (200, 206, 304); any
    /// other answer (412, 416) is about this request, not the file: never stored.</summary>
    private static Task SetCaching(object state)
    {
        var (response, cacheControl) = ((HttpResponse, string))state;
        response.Headers.CacheControl = response.StatusCode is StatusCodes.Status200OK or StatusCodes.Status206PartialContent
            or StatusCodes.Status304NotModified
            ? cacheControl
            : NoStore;
        return Task.CompletedTask;
    }

    /// <summary>A short text answer, "404 Not Found"; <paramref name="note"/> says why, in the access log only.</summary>
    private static async Task ErrorAsync(HttpContext context, int status, string? note)
    {
        Note(context, note);
        var response = context.Response;
        var body = Encoding.UTF8.GetBytes($"{status} {ReasonPhrases.GetReasonPhrase(status)}\n");
        response.StatusCode = status;
        response.ContentType = FeedContentPolicy.TextPlain;
        response.ContentLength = body.Length;
        response.Headers.CacheControl = NoStore;
        response.Headers.XContentTypeOptions = "nosniff";
        if (status == StatusCodes.Status400BadRequest)
        {
            // A malformed target is no client worth keeping a connection for.
            response.Headers.Connection = "close";
        }
        var sendBody = !HttpMethods.IsHead(context.Request.Method);
        if (context.Features.Get<FeedAccessRecord>() is { } record)
        {
            record.BodyBytes = sendBody ? body.Length : 0;
        }
        if (sendBody)
        {
            await response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static void Note(HttpContext context, string? note)
    {
        if (note is not null && context.Features.Get<FeedAccessRecord>() is { } record)
        {
            record.Note = note;
        }
    }
}
