using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Threading.RateLimiting;
using Belay.Core;
using Belay.Core.Hub;
using Belay.Hub.Admin;
using Belay.Hub.Agents;
using Belay.Hub.Api;
using Belay.Hub.Cluster;
using Belay.Hub.Feed;
using Belay.Hub.Logs;
using Belay.Hub.Security;
using Belay.Hub.Storage;
using Belay.Hub.Web;
using Microsoft.AspNetCore.DataProtection;
using Serilog;
using Serilog.Events;

namespace Belay.Hub;

/// <summary>What `belay-hub serve` was told.</summary>
internal sealed record ServeOptions(string DataDirectory, IPEndPoint Listen, string? TlsCert, string? TlsKey, bool InsecureHttp)
{
    public bool Tls => TlsCert is not null;

    public const string DefaultListen = "127.0.0.1:7070";

    /// <summary>
    /// Checks the options before anything starts: TLS needs both files; a non-loopback address
    /// needs TLS unless the operator said <c>--insecure-http</c> (operators' passwords, sessions,
    /// agents' credentials and every log line cross this connection).
    /// </summary>
    public static ServeOptions Parse(string data, string listen, string? tlsCert, string? tlsKey, bool insecureHttp)
    {
        if (!TryParseEndpoint(listen, out var endpoint))
        {
            throw new BelayException(ExitCodes.Usage, $"--listen '{listen}': give ADDRESS:PORT, like 127.0.0.1:7070, 0.0.0.0:443 or [::]:443");
        }
        if ((tlsCert is null) != (tlsKey is null))
        {
            throw new BelayException(ExitCodes.Usage, "--tls-cert and --tls-key go together (PEM certificate chain and its private key)");
        }
        if (tlsCert is null && !IPAddress.IsLoopback(endpoint.Address) && !insecureHttp)
        {
            throw new BelayException(ExitCodes.Usage,
                $"--listen {listen} is not a loopback address and no TLS was given: operators' passwords, agents' credentials and logs would cross the network in clear. Give --tls-cert and --tls-key, put the hub behind a TLS proxy on loopback, or say --insecure-http on a trusted network");
        }
        return new ServeOptions(Path.GetFullPath(data), endpoint, tlsCert, tlsKey, insecureHttp);
    }

    public static bool TryParseEndpoint(string text, out IPEndPoint endpoint)
    {
        endpoint = null!;
        if (text.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase)
            && int.TryParse(text["localhost:".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= 65535)
        {
            endpoint = new IPEndPoint(IPAddress.Loopback, port);
            return true;
        }
        return IPEndPoint.TryParse(text, out endpoint!) && text.Contains(':', StringComparison.Ordinal) && endpoint.Port is >= 0 and <= 65535
            && (text.LastIndexOf(':') > text.LastIndexOf(']') || !text.Contains(']', StringComparison.Ordinal));
    }
}

/// <summary>
/// Composes the hub: Kestrel on one address, the store, the agents' side (/agent/v1), the
/// operators' side (/api/v1 and the page), and the clockwork. <see cref="Program"/> only parses
/// the command line; everything is wired here, with no reflection (NativeAOT).
/// </summary>
internal static class HubServer
{
    public static WebApplication Build(ServeOptions options, Serilog.ILogger log, IHubStore store, IHubCluster cluster, FeedHosting? feed = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = options.DataDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.AddSerilog(log);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 1024 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(15);
            kestrel.Listen(options.Listen, listen =>
            {
                if (options.Tls)
                {
                    listen.UseHttps(LoadCertificate(options));
                }
            });
        });

        var services = builder.Services;
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(log);
        services.AddSingleton(store);
        services.AddSingleton(cluster);
        services.AddSingleton<AgentRegistry>();
        services.AddSingleton<TailSessions>();
        services.AddSingleton<StateWriter>();
        services.AddSingleton<Fleet>();
        services.AddSingleton<Administration>();
        FeedPublications? publications = null;
        if (feed is not null)
        {
            publications = new FeedPublications(feed, log, TimeProvider.System);
            publications.Prepare();
            services.AddSingleton(publications);
        }
        services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.TypeInfoResolverChain.Insert(0, HubApiJsonContext.Default);
            json.SerializerOptions.TypeInfoResolverChain.Insert(1, HubJsonContext.Default);
        });
        if (store is PostgresHubStore postgres)
        {
            // Every node must accept the CSRF tokens another issued: the keys live in the shared database.
            services.AddDataProtection().SetApplicationName("belay-hub");
            services.Configure<Microsoft.AspNetCore.DataProtection.KeyManagement.KeyManagementOptions>(keys =>
                keys.XmlRepository = new PostgresKeyRepository(postgres.DataSource));
        }
        else
        {
            var keys = Path.Combine(options.DataDirectory, "keys");
            CreatePrivateDirectory(keys);
            services.AddDataProtection().PersistKeysToFileSystem(new DirectoryInfo(keys)).SetApplicationName("belay-hub");
        }
        services.AddAntiforgery(antiforgery =>
        {
            antiforgery.HeaderName = Csrf.HeaderName;
            antiforgery.FormFieldName = Csrf.FieldName;
            antiforgery.Cookie.Name = options.Tls ? "__Host-belay_csrf" : "belay_csrf";
            antiforgery.Cookie.SameSite = SameSiteMode.Strict;
            antiforgery.Cookie.SecurePolicy = options.Tls ? CookieSecurePolicy.Always : CookieSecurePolicy.None;
            antiforgery.SuppressXFrameOptionsHeader = true;
        });
        services.AddAuthentication(OperatorAuthentication.SchemeName)
            .AddScheme<OperatorAuthenticationOptions, OperatorAuthentication>(OperatorAuthentication.SchemeName, o => o.CookieName = PageEndpoints.SessionCookie(options.Tls));
        services.AddAuthorization(HubPolicies.Add);
        services.AddRateLimiter(limits =>
        {
            limits.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limits.AddPolicy(PageEndpoints.LoginRateLimit, context => RateLimitPartition.GetFixedWindowLimiter(Remote(context),
                _ => new FixedWindowRateLimiterOptions { PermitLimit = 10, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
            limits.AddPolicy(AgentEndpoints.EnrollRateLimit, context => RateLimitPartition.GetFixedWindowLimiter(Remote(context),
                _ => new FixedWindowRateLimiterOptions { PermitLimit = 30, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
            limits.AddPolicy(OperatorRateLimit, context => RateLimitPartition.GetTokenBucketLimiter(context.User.Identity?.Name ?? Remote(context),
                _ => new TokenBucketRateLimiterOptions { TokenLimit = 200, TokensPerPeriod = 50, ReplenishmentPeriod = TimeSpan.FromSeconds(1), QueueLimit = 0 }));
            limits.OnRejected = async (context, cancellationToken) =>
            {
                context.HttpContext.Response.ContentType = "application/json";
                await context.HttpContext.Response.WriteAsJsonAsync(new HubError { Error = "too many requests: slow down and retry in a minute", Code = "rate-limited" },
                    HubJsonContext.Default.HubError, cancellationToken: cancellationToken).ConfigureAwait(false);
            };
        });

        var app = builder.Build();
        if (store is PostgresHubStore shared)
        {
            PostgresKeyRepository.EnsureKey(app.Services.GetRequiredService<Microsoft.AspNetCore.DataProtection.KeyManagement.IKeyManager>(), shared.DataSource,
                DateTimeOffset.UtcNow);
        }
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30), KeepAliveTimeout = TimeSpan.FromSeconds(15) });
        if (options.Tls)
        {
            app.Use((context, next) =>
            {
                context.Response.Headers.StrictTransportSecurity = "max-age=31536000";
                return next(context);
            });
        }
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();

        app.MapAgents();
        var api = app.MapGroup("/api/v1").RequireAuthorization(HubPolicies.Viewer).RequireRateLimiting(OperatorRateLimit).RequireCsrf();
        api.MapHosts();
        api.MapLogStreams();
        api.MapAudit();
        api.MapAdmin();
        api.MapFeedPush();
        app.MapServedFeed(publications);
        app.MapPages(options.Tls);
        app.MapGet("/healthz", () => TypedResults.Text("ok\n"));
        return app;
    }

    public const string OperatorRateLimit = "operator";

    /// <summary>Starts the clockwork (revocations, tail sweep, state batches) and the node's part in the cluster, for the app's lifetime.</summary>
    public static Task StartHousekeeping(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var services = app.Services;
        var store = services.GetRequiredService<IHubStore>();
        var clock = services.GetRequiredService<TimeProvider>();
        var cluster = services.GetRequiredService<IHubCluster>();
        if (cluster is PostgresCluster postgres)
        {
            postgres.Attach(services.GetRequiredService<AgentRegistry>(), services.GetRequiredService<TailSessions>());
        }
        var stopping = app.Lifetime.ApplicationStopping;
        var node = Task.Run(() => cluster.RunAsync(stopping));
        var housekeeping = new Housekeeping(store, services.GetRequiredService<AgentRegistry>(), services.GetRequiredService<TailSessions>(),
            services.GetRequiredService<StateWriter>(), (hash, cancel) => OperatorAuthentication.StillValidAsync(store, hash, clock.GetUtcNow(), cancel),
            services.GetRequiredService<Serilog.ILogger>(), clock);
        return Task.WhenAll(node, Task.Run(() => housekeeping.RunAsync(stopping)));
    }

    public static Serilog.ILogger CreateLog(string? file)
    {
        var config = new LoggerConfiguration()
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            // The data-protection keys (CSRF tokens) sit unencrypted in the 0700 keys folder, which is what
            // "No XML encryptor configured" warns about at every first start: said in docs/hub.md instead.
            .MinimumLevel.Override("Microsoft.AspNetCore.DataProtection", LogEventLevel.Error)
            .WriteTo.Console(outputTemplate: "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} hub {Level:u3} {Message:lj}{NewLine}{Exception}");
        if (file is not null)
        {
            config = config.WriteTo.File(file, fileSizeLimitBytes: 10 * 1024 * 1024, rollOnFileSizeLimit: true, retainedFileCountLimit: 5,
                outputTemplate: "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} {Level:u3} {Message:lj}{NewLine}{Exception}");
        }
        return config.CreateLogger();
    }

    /// <summary>The data folder and the folders in it are the hub's alone (0700): the database holds every credential's hash.</summary>
    public static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private static X509Certificate2 LoadCertificate(ServeOptions options)
    {
        try
        {
            return X509Certificate2.CreateFromPemFile(options.TlsCert!, options.TlsKey!);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new BelayException(ExitCodes.Usage, $"--tls-cert {options.TlsCert} / --tls-key {options.TlsKey}: cannot load them as a PEM certificate and its key ({e.Message})", e);
        }
    }

    private static string Remote(HttpContext context) => context.Connection.RemoteIpAddress?.ToString() ?? "?";
}
