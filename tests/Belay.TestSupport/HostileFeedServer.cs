using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Belay.TestSupport;

/// <summary>What the hostile server does to the requests it picks (<see cref="HostileFeedServer.Targets"/>).</summary>
public enum Hostility
{
    /// <summary>Serves the file honestly.</summary>
    None,

    /// <summary>Sends the headers, then nothing, forever.</summary>
    StallAfterHeaders,

    /// <summary>Accepts the connection and never answers.</summary>
    StallBeforeHeaders,

    /// <summary>Sends the body one byte per second.</summary>
    Trickle,

    /// <summary>Sends the headers and half the body, then resets the connection (RST).</summary>
    Reset,

    /// <summary>Announces the true Content-Length, sends half the body, closes cleanly.</summary>
    ShortBody,

    /// <summary>Announces the true Content-Length and sends the body followed by junk.</summary>
    LongBody,

    /// <summary>Announces a Content-Length of a terabyte.</summary>
    HugeContentLength,

    /// <summary>No Content-Length, and a body that never ends.</summary>
    Endless,

    /// <summary>Answers every other targeted request with 500, the first one included.</summary>
    Intermittent500,

    /// <summary>Serves the files of <see cref="HostileFeedServer.ReplayRoot"/> (an older copy of the feed).</summary>
    Replay,
}

/// <summary>
/// A feed server that misbehaves on purpose, for tests of the client's defenses: a raw
/// HTTP/1.1 server on a loopback TcpListener (one request per connection, Connection: close),
/// serving a folder, that stalls, trickles, resets, lies about lengths, never ends, fails
/// intermittently or replays old files, for the requests <see cref="Targets"/> picks.
/// </summary>
public sealed class HostileFeedServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly List<Task> _connections = [];
    private int _requests;

    public HostileFeedServer(string root)
    {
        Root = root;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Url = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/";
        _accepting = AcceptAsync();
    }

    public string Root { get; }
    public string Url { get; }
    private volatile Hostility _behaviour;
    private int _targeted;

    public Hostility Behaviour
    {
        get => _behaviour;
        set => _behaviour = value;
    }

    /// <summary>Which request paths (relative, like "channels/stable.json") get <see cref="Behaviour"/>; all by default.</summary>
    public Func<string, bool> Targets { get; set; } = _ => true;

    /// <summary>The folder <see cref="Hostility.Replay"/> serves from.</summary>
    public string? ReplayRoot { get; set; }

    /// <summary>The Date header to send; the real time when null.</summary>
    public DateTimeOffset? Date { get; set; }

    /// <summary>Requests answered so far.</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>The paths asked for, in order.</summary>
    public List<string> Log { get; } = [];

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            lock (_connections)
            {
                _connections.Add(ServeAsync(socket));
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        var reset = false;
        try
        {
            var path = await ReadRequestPathAsync(socket).ConfigureAwait(false);
            if (path is null)
            {
                return;
            }
            var n = Interlocked.Increment(ref _requests);
            lock (Log)
            {
                Log.Add(path);
            }
            var targeted = Targets(path);
            var behaviour = targeted ? Behaviour : Hostility.None;
            reset = await AnswerAsync(socket, path, behaviour, targeted ? Interlocked.Increment(ref _targeted) : n).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            if (reset)
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            else
            {
                try
                {
                    socket.Shutdown(SocketShutdown.Both);
                }
                catch (SocketException)
                {
                }
            }
            socket.Dispose();
        }
    }

    /// <summary>Answers one request; true when the connection should be reset rather than closed.</summary>
    private async Task<bool> AnswerAsync(Socket socket, string path, Hostility behaviour, int requestNumber)
    {
        var stop = _stop.Token;
        if (behaviour == Hostility.StallBeforeHeaders)
        {
            await Task.Delay(Timeout.Infinite, stop).ConfigureAwait(false);
        }
        if (behaviour == Hostility.Intermittent500 && requestNumber % 2 == 1)
        {
            await SendAsync(socket, Head(500, "Internal Server Error", 0), stop).ConfigureAwait(false);
            return false;
        }
        var folder = behaviour == Hostility.Replay ? ReplayRoot ?? Root : Root;
        var file = Path.Combine(folder, path.Replace('/', Path.DirectorySeparatorChar));
        if (path.Contains("..", StringComparison.Ordinal) || !File.Exists(file))
        {
            await SendAsync(socket, Head(404, "Not Found", 0), stop).ConfigureAwait(false);
            return false;
        }
        var body = await File.ReadAllBytesAsync(file, stop).ConfigureAwait(false);
        switch (behaviour)
        {
            case Hostility.StallAfterHeaders:
                await SendAsync(socket, Head(200, "OK", body.Length), stop).ConfigureAwait(false);
                await Task.Delay(Timeout.Infinite, stop).ConfigureAwait(false);
                return false;
            case Hostility.Trickle:
                await SendAsync(socket, Head(200, "OK", body.Length), stop).ConfigureAwait(false);
                foreach (var b in body)
                {
                    await SendAsync(socket, new[] { b }, stop).ConfigureAwait(false);
                    await Task.Delay(TimeSpan.FromSeconds(1), stop).ConfigureAwait(false);
                }
                return false;
            case Hostility.Reset:
                await SendAsync(socket, Head(200, "OK", body.Length), stop).ConfigureAwait(false);
                await SendAsync(socket, body.AsMemory(0, body.Length / 2), stop).ConfigureAwait(false);
                await Task.Delay(100, stop).ConfigureAwait(false);
                return true;
            case Hostility.ShortBody:
                await SendAsync(socket, Head(200, "OK", body.Length), stop).ConfigureAwait(false);
                await SendAsync(socket, body.AsMemory(0, body.Length / 2), stop).ConfigureAwait(false);
                return false;
            case Hostility.LongBody:
                await SendAsync(socket, Head(200, "OK", body.Length), stop).ConfigureAwait(false);
                await SendAsync(socket, body, stop).ConfigureAwait(false);
                await SendAsync(socket, Encoding.ASCII.GetBytes(new string('X', 64 * 1024)), stop).ConfigureAwait(false);
                return false;
            case Hostility.HugeContentLength:
                await SendAsync(socket, Head(200, "OK", 1L << 40), stop).ConfigureAwait(false);
                await SendAsync(socket, body, stop).ConfigureAwait(false);
                return false;
            case Hostility.Endless:
                await SendAsync(socket, Head(200, "OK", null), stop).ConfigureAwait(false);
                var chunk = new byte[64 * 1024];
                while (true)
                {
                    await SendAsync(socket, chunk, stop).ConfigureAwait(false);
                }
            default:
                await SendAsync(socket, Head(200, "OK", body.Length), stop).ConfigureAwait(false);
                await SendAsync(socket, body, stop).ConfigureAwait(false);
                return false;
        }
    }

    private byte[] Head(int status, string reason, long? length)
    {
        var date = (Date ?? DateTimeOffset.UtcNow).ToString("r", CultureInfo.InvariantCulture);
        var head = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {reason}\r\n")
            .Append(CultureInfo.InvariantCulture, $"Date: {date}\r\n")
            .Append("Connection: close\r\n")
            .Append("Content-Type: application/octet-stream\r\n");
        if (length is { } l)
        {
            head.Append(CultureInfo.InvariantCulture, $"Content-Length: {l}\r\n");
        }
        return Encoding.ASCII.GetBytes(head.Append("\r\n").ToString());
    }

    private static async Task SendAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken stop)
    {
        while (!data.IsEmpty)
        {
            var n = await socket.SendAsync(data, SocketFlags.None, stop).ConfigureAwait(false);
            data = data[n..];
        }
    }

    /// <summary>Reads the request head and returns the path without its leading '/', or null.</summary>
    private async Task<string?> ReadRequestPathAsync(Socket socket)
    {
        var buffer = new byte[16 * 1024];
        var used = 0;
        while (used < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(used), SocketFlags.None, _stop.Token).ConfigureAwait(false);
            if (n == 0)
            {
                return null;
            }
            used += n;
            var text = Encoding.ASCII.GetString(buffer, 0, used);
            if (text.Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var parts = text[..text.IndexOf('\r', StringComparison.Ordinal)].Split(' ');
                if (parts.Length < 2)
                {
                    return null;
                }
                var path = Uri.UnescapeDataString(parts[1].Split('?')[0]);
                return path.TrimStart('/');
            }
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _accepting.ConfigureAwait(false);
        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }
        await Task.WhenAll(connections).ConfigureAwait(false);
        _stop.Dispose();
    }
}
