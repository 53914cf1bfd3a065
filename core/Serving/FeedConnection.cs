using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Belay.Core.IO;

namespace Belay.Core.Serving;

/// <summary>
/// What one connection does:
///   1. read a request head (≤ 16 KiB, ≤ 100 fields) within the header timeout; a client that
///      is idle between keep-alive requests is closed silently, one that stalls mid-head gets 408;
///   2. parse it strictly (HttpRequestHead), decide the response (FeedResponder: path checks,
///      symlink containment, ETag, 304), write the head, stream the file in 64 KiB chunks with
///      a per-write timeout;
///   3. log one access line, and loop while keep-alive holds; a request that announces a body
///      is answered and the connection closed (the body is never read), with a lingering close
///      so the client still receives the answer.
/// Hazards: a client that vanishes mid-body surfaces as an IOException on write; it ends that
/// connection only. Stop is abrupt: in-flight downloads are cut, as with any server restart.
/// </summary>
internal sealed class FeedConnection(Socket socket, FeedResponder responder, ServerLimits limits, TimeProvider time,
    Action<string> log)
{
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var stream = new NetworkStream(socket, ownsSocket: true);
        var linger = false;
        try
        {
            // Both throw if the client already reset the connection.
            var remote = (socket.RemoteEndPoint as IPEndPoint)?.ToString() ?? "-";
            socket.NoDelay = true;
            var reader = new RequestHeadReader(stream, limits.MaxRequestHeadBytes);
            for (var served = 0; served < limits.MaxRequestsPerConnection; served++)
            {
                var keepAlive = await ServeOneAsync(reader, stream, remote, served + 1 < limits.MaxRequestsPerConnection,
                    stoppingToken).ConfigureAwait(false);
                if (keepAlive is null)
                {
                    return; // the client left, or the connection broke: nothing to say
                }
                if (!keepAlive.Value)
                {
                    linger = true;
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // A client gone mid-body, a write timeout, or Stop: this connection ends, nothing else.
        }
        finally
        {
            if (linger && !stoppingToken.IsCancellationRequested)
            {
                await LingeringCloseAsync().ConfigureAwait(false);
            }
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Serves one request. Returns whether to keep the connection, or null to drop it
    /// without a word (client closed, idle timeout).</summary>
    private async Task<bool?> ServeOneAsync(RequestHeadReader reader, NetworkStream stream, string remote,
        bool mayKeepAlive, CancellationToken stoppingToken)
    {
        (HeadReadStatus Status, ReadOnlyMemory<byte> Head) read;
        using (var headTimeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
        {
            headTimeout.CancelAfter(limits.HeaderTimeout);
            try
            {
                read = await reader.ReadAsync(headTimeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                if (!reader.HasPartialRequest)
                {
                    return null; // idle keep-alive connection: close quietly
                }
                using var timedOut = FeedResponse.Error(408, isHead: false, "request head timeout");
                await WriteAsync(stream, timedOut, remote, null, stoppingToken).ConfigureAwait(false);
                return false;
            }
        }

        switch (read.Status)
        {
            case HeadReadStatus.Closed:
            case HeadReadStatus.ClosedMidRequest:
                return null;
            case HeadReadStatus.TooLarge:
                using (var tooLarge = FeedResponse.Error(431, isHead: false, "request head too large"))
                {
                    await WriteAsync(stream, tooLarge, remote, null, stoppingToken).ConfigureAwait(false);
                }
                return false;
        }

        var parsed = HttpRequestHead.Parse(read.Head.Span, limits.MaxHeaderCount);
        if (parsed.Request is not { } request)
        {
            using var bad = FeedResponse.Error(parsed.ErrorStatus, isHead: false, parsed.Error);
            await WriteAsync(stream, bad, remote, null, stoppingToken).ConfigureAwait(false);
            return false;
        }

        var keepAlive = mayKeepAlive && request.KeepAlive;
        FeedResponse response;
        try
        {
            response = await responder.RespondAsync(request, stoppingToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            // The file changed or failed under us; the client may retry.
            response = FeedResponse.Error(500, request.Method == "HEAD", "read failed: " + SystemErrors.Describe(e));
            keepAlive = false;
        }
        using (response)
        {
            await WriteAsync(stream, response, remote, request, stoppingToken, keepAlive).ConfigureAwait(false);
        }
        return keepAlive;
    }

    private async Task WriteAsync(NetworkStream stream, FeedResponse response, string remote, HttpRequestHead? request,
        CancellationToken stoppingToken, bool keepAlive = false)
    {
        var started = time.GetTimestamp();
        long sent = 0;
        var outcome = "";
        using var sendTimeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        try
        {
            var head = FormatHead(response, keepAlive);
            var text = response.SendBody ? response.Text : null;
            sendTimeout.CancelAfter(limits.SendTimeout);
            if (text is not null)
            {
                var both = new byte[head.Length + text.Length];
                head.CopyTo(both, 0);
                text.CopyTo(both, head.Length);
                await stream.WriteAsync(both, sendTimeout.Token).ConfigureAwait(false);
                sent = text.Length;
            }
            else
            {
                await stream.WriteAsync(head, sendTimeout.Token).ConfigureAwait(false);
            }
            if (response.SendBody && response.File is { } file && response.ContentLength is { } length)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
                try
                {
                    while (sent < length)
                    {
                        var want = (int)Math.Min(buffer.Length, length - sent);
                        var n = await RandomAccess.ReadAsync(file, buffer.AsMemory(0, want), sent, stoppingToken)
                            .ConfigureAwait(false);
                        if (n == 0)
                        {
                            // The promised length cannot be kept; only closing tells the client.
                            throw new IOException("file shrank while it was being sent");
                        }
                        sendTimeout.CancelAfter(limits.SendTimeout);
                        await stream.WriteAsync(buffer.AsMemory(0, n), sendTimeout.Token).ConfigureAwait(false);
                        sent += n;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            outcome = e is OperationCanceledException && !stoppingToken.IsCancellationRequested
                ? " aborted: send timeout"
                : " aborted: " + SystemErrors.Describe(e.InnerException ?? e);
            throw;
        }
        finally
        {
            var elapsed = time.GetElapsedTime(started).TotalMilliseconds;
            var line = request is null ? "-" : $"{request.Method} {request.Target} {request.Version}";
            var note = response.Note is null ? "" : $" ({response.Note})";
            log(string.Create(CultureInfo.InvariantCulture,
                $"{remote} \"{line}\" {response.Status} {sent} {elapsed:0}ms{note}{outcome}"));
        }
    }

    private byte[] FormatHead(FeedResponse response, bool keepAlive)
    {
        var b = new StringBuilder(256);
        b.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {response.Status} {HttpStatus.Reason(response.Status)}\r\n");
        b.Append("Date: ").Append(Conditionals.FormatHttpDate(time.GetUtcNow())).Append("\r\n");
        b.Append("Server: belay\r\n");
        foreach (var (name, value) in response.Headers)
        {
            b.Append(name).Append(": ").Append(value).Append("\r\n");
        }
        if (response.ContentLength is { } length)
        {
            b.Append(CultureInfo.InvariantCulture, $"Content-Length: {length}\r\n");
        }
        if (!keepAlive)
        {
            b.Append("Connection: close\r\n");
        }
        b.Append("\r\n");
        return Encoding.Latin1.GetBytes(b.ToString());
    }

    /// <summary>Closes after a response without losing it: half-close, then read and drop what
    /// the client still sends (an unread body would otherwise make the kernel answer with a
    /// reset that can destroy the response before the client reads it).</summary>
    private async Task LingeringCloseAsync()
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
            using var linger = new CancellationTokenSource(limits.LingerTimeout);
            var sink = ArrayPool<byte>.Shared.Rent(16 * 1024);
            try
            {
                var drained = 0;
                int n;
                while (drained < limits.MaxLingerBytes
                       && (n = await socket.ReceiveAsync(sink, SocketFlags.None, linger.Token).ConfigureAwait(false)) > 0)
                {
                    drained += n;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(sink);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }
}
