// The static feed server behind `belay-release serve`: a feed directory, read-only, over plain
// HTTP/1.1, for tests, demos and air-gapped LANs. Production feeds belong behind nginx, S3 or a
// CDN (docs/feed.md).
//
// Kestrel does the HTTP: parsing (strict, RFC 9112), keep-alive and pipelining, the limits
// (FeedServerLimits: head sizes, header count, connections, header and keep-alive timeouts,
// minimum response rate), graceful stop. This file only composes: the smallest ASP.NET Core
// host (CreateEmptyBuilder, UseKestrelCore; no configuration files, no routing, no HTTPS, no
// console logger), one middleware for the access log, and FeedRequestHandler for every request.

using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Belay.Serving;

/// <summary>Serves a feed directory read-only over HTTP/1.1 (GET and HEAD) on Kestrel.</summary>
public sealed class FeedServer : IAsyncDisposable
{
    private readonly string rootDirectory;
    private readonly IPEndPoint listen;
    private readonly Action<string> log;
    private readonly FeedServerLimits limits;
    private readonly TimeProvider time;
    private WebApplication? app;
    private IPEndPoint? bound;
    private int stopped;

    /// <param name="rootDirectory">The feed directory; it must exist when the server starts.</param>
    /// <param name="listen">Where to listen; port 0 lets the OS choose (see <see cref="LocalEndPoint"/>).
    /// The caller decides whether to bind beyond loopback (<see cref="IsLoopback"/>).</param>
    /// <param name="log">Receives one access-log line per request, and what Kestrel refused.</param>
    public FeedServer(string rootDirectory, IPEndPoint listen, Action<string>? log = null)
        : this(rootDirectory, listen, log, new FeedServerLimits(), TimeProvider.System)
    {
    }

    public FeedServer(string rootDirectory, IPEndPoint listen, Action<string>? log, FeedServerLimits limits, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(rootDirectory);
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentNullException.ThrowIfNull(time);
        this.rootDirectory = rootDirectory;
        this.listen = listen;
        this.log = log ?? (_ => { });
        this.limits = limits;
        this.time = time;
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

    /// <summary>Binds and starts serving.</summary>
    /// <exception cref="DirectoryNotFoundException">The feed directory does not exist (checked before binding).</exception>
    /// <exception cref="IOException">The address cannot be bound (in use, not permitted, not local).</exception>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(stopped != 0, this);
        if (app is not null)
        {
            throw new InvalidOperationException("the server has already started");
        }
        var handler = FeedEndpoints.CreateHandler("", rootDirectory, time, limits.SendTimeout);
        var events = new KestrelEventLog(log);

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            var k = kestrel.Limits;
            k.MaxRequestLineSize = limits.MaxRequestLineBytes;
            k.MaxRequestHeadersTotalSize = limits.MaxRequestHeadersBytes;
            k.MaxRequestHeaderCount = limits.MaxHeaderCount;
            k.MaxConcurrentConnections = limits.MaxConnections;
            k.RequestHeadersTimeout = limits.RequestHeadersTimeout;
            k.KeepAliveTimeout = limits.KeepAliveTimeout;
            k.MinResponseDataRate = new MinDataRate(limits.MinResponseBytesPerSecond, TimeSpan.FromSeconds(5));
            // The feed reads no request body. After the answer Kestrel drains an unread body of
            // up to this size to keep the connection (at MinRequestBodyDataRate, or it is cut);
            // a larger one closes the connection instead.
            k.MaxRequestBodySize = 1024 * 1024;
            kestrel.Listen(listen, options =>
            {
                options.Protocols = HttpProtocols.Http1;
                options.Use(events.Remember);
            });
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = limits.ShutdownTimeout);
        builder.Services.AddSingleton<IHostLifetime, CallerLifetime>();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(events);

        var application = builder.Build();
        var accessLog = new FeedAccessLog(log, time);
        application.Use(accessLog.InvokeAsync);
        application.Run(handler.HandleAsync);
        try
        {
            await application.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await application.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        app = application;
        var address = application.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>()
            .Addresses.Single();
        var uri = new Uri(address);
        bound = new IPEndPoint(IPAddress.Parse(uri.Host.Trim('[', ']')), uri.Port);
    }

    /// <summary>Stops accepting, lets answers under way finish within
    /// <see cref="FeedServerLimits.ShutdownTimeout"/>, then cuts the rest. Idempotent.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref stopped, 1) != 0 || app is null)
        {
            return;
        }
        await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (app is not null)
        {
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The caller owns signals (belay-release serve stops on SIGINT and SIGTERM
    /// itself), so the host must not register its own console handlers.</summary>
    private sealed class CallerLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
