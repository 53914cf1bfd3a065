using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Belay.TestSupport;

namespace Belay.Serving.Tests;

/// <summary>A <see cref="FeedServer"/> on 127.0.0.1:0 over a fresh temp feed, with an
/// HttpClient and a raw-socket client pointed at it.</summary>
internal sealed class RunningFeedServer : IAsyncDisposable
{
    private readonly TempDir temp;

    private RunningFeedServer(TempDir temp, FeedServer server, ConcurrentQueue<string> log)
    {
        this.temp = temp;
        Server = server;
        Log = log;
        BaseUri = new Uri($"http://{server.LocalEndPoint}/");
        Client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false })
        {
            BaseAddress = BaseUri,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    public FeedServer Server { get; }

    public Uri BaseUri { get; }

    public HttpClient Client { get; }

    /// <summary>Every access-log line so far.</summary>
    public ConcurrentQueue<string> Log { get; }

    /// <summary>The feed root: a folder inside the temp dir, so that files beside it are "outside".</summary>
    public string FeedRoot => temp.Combine("feed");

    public string Outside(string name) => temp.Combine(name);

    public static async Task<RunningFeedServer> StartAsync(FeedServerLimits? limits = null)
    {
        var temp = new TempDir();
        Directory.CreateDirectory(temp.Combine("feed"));
        var log = new ConcurrentQueue<string>();
        var server = new FeedServer(temp.Combine("feed"), new IPEndPoint(IPAddress.Loopback, 0), log.Enqueue,
            limits ?? new FeedServerLimits(), TimeProvider.System);
        await server.StartAsync(TestContext.Current.CancellationToken);
        return new RunningFeedServer(temp, server, log);
    }

    public string Write(string relative, string content) => Write(relative, Encoding.UTF8.GetBytes(content));

    public string Write(string relative, byte[] content)
    {
        var path = Path.Combine(FeedRoot, relative.Replace('/', Path.DirectorySeparatorChar));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        return path;
    }

    public TcpClient Connect()
    {
        var tcp = new TcpClient();
        tcp.Connect(Server.LocalEndPoint);
        tcp.ReceiveTimeout = 10_000;
        tcp.SendTimeout = 10_000;
        return tcp;
    }

    /// <summary>Sends <paramref name="request"/> byte for byte and reads until the server closes.
    /// With <paramref name="tolerateReset"/>, a connection the server resets or closes before the
    /// request is even written reads as "" (what a client of a full server sees).</summary>
    public async Task<string> RawAsync(string request, bool tolerateReset = false)
    {
        using var tcp = Connect();
        var stream = tcp.GetStream();
        try
        {
            await stream.WriteAsync(Encoding.Latin1.GetBytes(request), TestContext.Current.CancellationToken);
            return await ReadToCloseAsync(stream);
        }
        catch (IOException) when (tolerateReset)
        {
            return "";
        }
    }

    public static async Task<string> ReadToCloseAsync(Stream stream)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        using var all = new MemoryStream();
        await stream.CopyToAsync(all, timeout.Token);
        return Encoding.Latin1.GetString(all.ToArray());
    }

    /// <summary>The status code of a raw response ("HTTP/1.1 404 Not Found" → 404).</summary>
    public static int StatusOf(string rawResponse)
    {
        Assert.StartsWith("HTTP/1.1 ", rawResponse);
        return int.Parse(rawResponse.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        temp.Dispose();
    }
}
