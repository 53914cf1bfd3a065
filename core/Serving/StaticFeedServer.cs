// The static feed server behind `belay-release serve`: a feed directory, read-only, over
// plain HTTP/1.1, for tests, demos and air-gapped LANs. Production feeds belong behind nginx,
// S3 or a CDN (docs/feed.md); this server only has to be correct, safe and small.
//
// Why a small server over Socket and not System.Net.HttpListener: HttpListener refuses port 0
// ("Invalid port in prefix", checked on .NET 10), so tests could not let the OS pick a port;
// its managed Unix implementation has no header timeout or request-size limits (TimeoutManager
// is not supported there) and canonicalises "/a/../b" before we see it; on Windows it is a
// different stack again (http.sys, URL ACLs). A GET/HEAD-only file server needs a few hundred
// lines of HTTP/1.1 that we can read, test and trim, with limits we choose (ServerLimits).
//
// The parts: HttpRequestHead parses, FeedRequestPath and FeedRoot keep paths inside the feed,
// FeedResponder decides status and headers (ContentETags, Conditionals, FeedContentPolicy),
// FeedConnection runs one keep-alive connection. This file binds, accepts and stops.

using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Belay.Core.Serving;

/// <summary>Serves a feed directory read-only over HTTP/1.1 (GET and HEAD).</summary>
public sealed class StaticFeedServer : IAsyncDisposable
{
    private readonly string rootDirectory;
    private readonly IPEndPoint listen;
    private readonly Action<string>? log;
    private readonly ServerLimits limits;
    private readonly TimeProvider time;
    private readonly CancellationTokenSource stopping = new();
    private readonly ConcurrentDictionary<long, Task> connections = new();
    private readonly SemaphoreSlim connectionSlots;
    private Socket? listener;
    private IPEndPoint? bound;
    private FeedResponder? responder;
    private Task? acceptLoop;
    private long nextConnectionId;
    private int stopped;

    /// <param name="rootDirectory">The feed directory; it must exist when the server starts.</param>
    /// <param name="listen">Where to listen; port 0 lets the OS choose (see <see cref="LocalEndPoint"/>).
    /// The caller decides whether to bind beyond loopback (<see cref="IsLoopback"/>).</param>
    /// <param name="log">Receives one access-log line per request, and accept errors.</param>
    public StaticFeedServer(string rootDirectory, IPEndPoint listen, Action<string>? log = null)
        : this(rootDirectory, listen, log, new ServerLimits(), TimeProvider.System)
    {
    }

    internal StaticFeedServer(string rootDirectory, IPEndPoint listen, Action<string>? log, ServerLimits limits,
        TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(rootDirectory);
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentNullException.ThrowIfNull(time);
        this.rootDirectory = rootDirectory;
        this.listen = listen;
        this.log = log;
        this.limits = limits;
        this.time = time;
        connectionSlots = new SemaphoreSlim(limits.MaxConnections, limits.MaxConnections);
    }

    /// <summary>The address actually bound, with the OS-chosen port when port 0 was asked.</summary>
    public IPEndPoint LocalEndPoint =>
        bound ?? throw new InvalidOperationException("the server has not started");

    /// <summary>True for 127.0.0.0/8, ::1 and their IPv4-mapped forms.</summary>
    public static bool IsLoopback(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var address = endPoint.Address;
        return IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
    }

    /// <summary>Binds and starts accepting. Throws if the root is missing or the address is taken.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(stopped != 0, this);
        if (listener is not null)
        {
            throw new InvalidOperationException("the server has already started");
        }
        responder = new FeedResponder(FeedRoot.Open(rootDirectory), new ContentETags(time));
        var socket = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (listen.AddressFamily == AddressFamily.InterNetworkV6 && listen.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }
            socket.Bind(listen);
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        listener = socket;
        bound = (IPEndPoint)socket.LocalEndPoint!;
        acceptLoop = Task.Run(AcceptLoopAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Stops accepting, cuts open connections and waits for them to end. Idempotent.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref stopped, 1) != 0)
        {
            return;
        }
        await stopping.CancelAsync().ConfigureAwait(false);
        listener?.Dispose();
        if (acceptLoop is not null)
        {
            await acceptLoop.ConfigureAwait(false);
        }
        await Task.WhenAll(connections.Values).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        stopping.Dispose();
        connectionSlots.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        var token = stopping.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await connectionSlots.WaitAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            Socket client;
            try
            {
                client = await listener!.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                connectionSlots.Release();
                return;
            }
            catch (SocketException e)
            {
                // EMFILE, ECONNABORTED, ...: keep serving, but do not spin.
                connectionSlots.Release();
                Log($"accept failed: {e.SocketErrorCode}");
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), time, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            // Registered before it runs, removed by itself: StopAsync waits for exactly the live ones.
            var id = Interlocked.Increment(ref nextConnectionId);
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            connections[id] = done.Task;
            _ = Task.Run(async () =>
            {
                try
                {
                    await new FeedConnection(client, responder!, limits, time, Log).RunAsync(token).ConfigureAwait(false);
                }
#pragma warning disable CA1031 // a bug in one connection must not go unobserved or stop the others
                catch (Exception e)
#pragma warning restore CA1031
                {
                    Log($"connection failed: {e}");
                }
                finally
                {
                    connections.TryRemove(id, out _);
                    connectionSlots.Release();
                    done.SetResult();
                }
            }, CancellationToken.None);
        }
    }

    private void Log(string line)
    {
        try
        {
            log?.Invoke(line);
        }
#pragma warning disable CA1031 // a failing log sink must not take a connection or the server down
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}
