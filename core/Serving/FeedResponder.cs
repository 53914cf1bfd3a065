using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Belay.Core.Serving;

/// <summary>
/// Decides the response to one parsed request: which file, which status, which headers.
/// It opens the file (and keeps it open for the body, so the ETag, the length and the bytes
/// all come from one open file, even if the publisher renames a new one over it meanwhile)
/// but writes nothing to the network; <see cref="StaticFeedServer"/> does that.
/// </summary>
internal sealed class FeedResponder(FeedRoot root, ContentETags etags)
{
    public const string Allow = "GET, HEAD";

    public async ValueTask<FeedResponse> RespondAsync(HttpRequestHead request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var isHead = request.Method == "HEAD";
        if (request.Method != "GET" && !isHead)
        {
            var refused = FeedResponse.Error(405, isHead, null);
            refused.Headers.Add(new("Allow", Allow));
            return refused;
        }

        var path = FeedRequestPath.Parse(request.Target);
        if (path.Segments is null)
        {
            return FeedResponse.Error(path.ErrorStatus, isHead, path.Error);
        }
        var file = root.Resolve(path.Segments, out var reason);
        if (file is null)
        {
            return FeedResponse.Error(404, isHead, reason);
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
            return FeedResponse.Error(404, isHead, "vanished");
        }
        catch (UnauthorizedAccessException)
        {
            return FeedResponse.Error(403, isHead, "not readable");
        }

        try
        {
            var length = RandomAccess.GetLength(handle);
            var lastWrite = File.GetLastWriteTimeUtc(handle);
            var etag = await etags.GetAsync(file, handle, length, lastWrite, cancellationToken).ConfigureAwait(false);
            var lastModified = new DateTimeOffset(lastWrite, TimeSpan.Zero);
            var relative = path.RelativePath;

            var response = new FeedResponse { SendBody = !isHead };
            response.Headers.Add(new("ETag", etag));
            response.Headers.Add(new("Last-Modified", Conditionals.FormatHttpDate(lastModified)));
            response.Headers.Add(new("Cache-Control", FeedContentPolicy.CacheControl(relative)));

            if (Conditionals.NotModified(request.Values("If-None-Match").ToList(),
                    request.Values("If-Modified-Since").ToList(), etag, lastModified))
            {
                handle.Dispose();
                response.Status = 304;
                response.SendBody = false;
                return response;
            }

            response.Status = 200;
            response.Headers.Add(new("Content-Type", FeedContentPolicy.ContentType(relative)));
            response.Headers.Add(new("X-Content-Type-Options", "nosniff"));
            response.ContentLength = length;
            response.File = handle;
            return response;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }
}

/// <summary>A response to write: status, headers and at most one of a file or a short text body.</summary>
internal sealed class FeedResponse : IDisposable
{
    public int Status { get; set; }

    public List<KeyValuePair<string, string>> Headers { get; } = [];

    /// <summary>The value of Content-Length, also for HEAD; null sends none (304).</summary>
    public long? ContentLength { get; set; }

    /// <summary>False for HEAD and 304: the head announces a body that is not sent.</summary>
    public bool SendBody { get; set; }

    /// <summary>The open file whose first <see cref="ContentLength"/> bytes are the body.</summary>
    public SafeFileHandle? File { get; set; }

    public byte[]? Text { get; set; }

    /// <summary>Why the request was refused, for the access log; null when it was not.</summary>
    public string? Note { get; set; }

    public static FeedResponse Error(int status, bool isHead, string? note)
    {
        var text = Encoding.UTF8.GetBytes($"{status} {HttpStatus.Reason(status)}\n");
        var response = new FeedResponse
        {
            Status = status, Text = text, ContentLength = text.Length, SendBody = !isHead, Note = note,
        };
        response.Headers.Add(new("Content-Type", FeedContentPolicy.TextPlain));
        response.Headers.Add(new("Cache-Control", "no-store"));
        return response;
    }

    public void Dispose() => File?.Dispose();
}

internal static class HttpStatus
{
    public static string Reason(int status) => status switch
    {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    };
}
