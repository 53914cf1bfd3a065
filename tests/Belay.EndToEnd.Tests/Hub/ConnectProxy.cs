using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Belay.EndToEnd.Tests.Hub;

/// <summary>
/// A forward HTTP proxy on loopback, as a site's egress proxy would be: CONNECT opens a tunnel,
/// and a request in absolute form (<c>POST http://host:port/path</c>) is passed on as it is (an
/// HTTP/1.1 server takes the absolute form). It records each request line it served.
/// </summary>
public sealed class ConnectProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _requests = [];
    private readonly List<TcpClient> _clients = [];

    public ConnectProxy()
    {
        _listener.Start();
        _ = Task.Run(AcceptAsync);
    }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>The request lines seen so far (CONNECT host:port HTTP/1.1, or METHOD URL HTTP/1.1).</summary>
    public IReadOnlyList<string> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            lock (_clients)
            {
                _clients.Add(client);
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var upstream = new TcpClient();
        try
        {
            var down = client.GetStream();
            var head = await ReadHeadAsync(down);
            var line = head[..head.IndexOf("\r\n", StringComparison.Ordinal)];
            lock (_requests)
            {
                _requests.Add(line);
            }
            var parts = line.Split(' ');
            var connect = parts[0] == "CONNECT";
            var target = connect ? new Uri("tcp://" + parts[1]) : new Uri(parts[1]);
            await upstream.ConnectAsync(target.Host, target.Port, _stop.Token);
            var up = upstream.GetStream();
            if (connect)
            {
                await down.WriteAsync("HTTP/1.1 200 Connection established\r\n\r\n"u8.ToArray(), _stop.Token);
            }
            else
            {
                await up.WriteAsync(Encoding.Latin1.GetBytes(head), _stop.Token);
            }
            await Task.WhenAny(down.CopyToAsync(up, _stop.Token), up.CopyToAsync(down, _stop.Token));
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or UriFormatException or ArgumentException)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    /// <summary>Reads up to the blank line that ends a request's head (byte by byte: what follows belongs to the tunnel).</summary>
    private async Task<string> ReadHeadAsync(NetworkStream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, _stop.Token) == 0 || head.Length > 16 * 1024)
            {
                throw new IOException("the request head ended early or is too long");
            }
            head.Append((char)one[0]);
        }
        return head.ToString();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_clients)
        {
            foreach (var client in _clients)
            {
                client.Dispose();
            }
        }
        _stop.Dispose();
    }
}
