using System.CommandLine;
using Belay.Core;
using Belay.Hub.Cluster;
using Belay.Hub.Feed;
using Belay.Hub.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Belay.Hub.Cli;

/// <summary>`belay-hub serve --data DIR [--database postgres://…] [--listen ADDR:PORT] [--tls-cert F --tls-key F] [--insecure-http] [--log FILE]`.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var data = DataOption.Create();
        var listen = new Option<string>("--listen") { Description = "Address and port. A non-loopback address needs TLS (or --insecure-http). Port 0 picks a free one.", DefaultValueFactory = _ => ServeOptions.DefaultListen };
        var cert = new Option<FileInfo?>("--tls-cert") { Description = "PEM certificate (chain) to serve HTTPS with." };
        var key = new Option<FileInfo?>("--tls-key") { Description = "PEM private key of --tls-cert." };
        var insecure = new Option<bool>("--insecure-http") { Description = "Serve plain HTTP on a non-loopback address (a trusted network only: passwords, credentials and logs travel in clear)." };
        var logFile = new Option<FileInfo?>("--log") { Description = "Also write the hub's log to this file (rotated at 10 MB, 5 kept)." };
        var feedDir = new Option<DirectoryInfo?>("--feed-dir") { Description = "Serve a feed under /feed/ from this folder, which belay-release push fills (each push checked as a host would). Needs --feed-root-key." };
        var feedRootKeys = new Option<string[]>("--feed-root-key")
        {
            Description = "A root public key (base64 line or .pub file) that a pushed feed's root.json must be reached from: the key your hosts pin. Repeat for more.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var feedMaxUpload = new Option<string>("--feed-max-upload") { Description = "The largest push the hub takes, like 512MB or 2GB.", DefaultValueFactory = _ => "1GB" };
        var command = new Command("serve", "Run the hub: agents connect to /agent/v1, operators use the page and /api/v1, hosts may read a pushed feed at /feed/.")
        {
            data, listen, cert, key, insecure, logFile, feedDir, feedRootKeys, feedMaxUpload,
        };
        command.SetAction(async (result, cancel) =>
        {
            var options = ServeOptions.Parse(result.GetRequiredValue(data).FullName, result.GetRequiredValue(listen), result.GetValue(cert)?.FullName,
                result.GetValue(key)?.FullName, result.GetValue(insecure));
            var database = DataOption.Url(result);
            var feed = FeedOption(result.GetValue(feedDir), result.GetValue(feedRootKeys) ?? [], result.GetRequiredValue(feedMaxUpload));
            HubServer.CreatePrivateDirectory(options.DataDirectory);
            var log = HubServer.CreateLog(result.GetValue(logFile)?.FullName);
            try
            {
                SqlHubStore store;
                IHubCluster cluster;
                if (database is null)
                {
                    store = new SqliteHubStore(options.DataDirectory);
                    // One process owns a SQLite database: it brings the schema up to date itself.
                    await store.MigrateAsync(cancel).ConfigureAwait(false);
                    cluster = new SingleNode();
                }
                else
                {
                    var postgres = new PostgresHubStore(database);
                    store = postgres;
                    // Several nodes share PostgreSQL: only `belay-hub migrate` changes its schema.
                    await store.EnsureCurrentAsync(cancel).ConfigureAwait(false);
                    cluster = new PostgresCluster(postgres, options.Listen.ToString(), log, TimeProvider.System);
                }
                await using var app = HubServer.Build(options, log, store, cluster, feed);
                try
                {
                    await app.StartAsync(cancel).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    throw new BelayException($"cannot listen on {options.Listen}: {e.Message}", e);
                }
                var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? options.Listen.ToString();
                var engine = database is null ? $"data {options.DataDirectory}, SQLite {SqliteHubStore.SqliteVersion}" : $"data {options.DataDirectory}, database {store.Describe}, node {cluster.NodeId}";
                if (feed is not null)
                {
                    engine += $", feed {feed.Directory} at {address.TrimEnd('/')}/feed/";
                }
                Console.WriteLine($"belay-hub {BuildInfo.Version} listening on {address.TrimEnd('/')}/ ({engine})");
                if (options.InsecureHttp && !options.Tls)
                {
                    log.Warning("serving plain HTTP on {Listen} (--insecure-http): use it on a trusted network only", options.Listen);
                }
                var housekeeping = HubServer.StartHousekeeping(app);
                using var stopOnCancel = cancel.Register(app.Lifetime.StopApplication);
                await app.WaitForShutdownAsync(CancellationToken.None).ConfigureAwait(false);
                await housekeeping.ConfigureAwait(false);
                log.Information("belay-hub stopped");
                return ExitCodes.Ok;
            }
            finally
            {
                (log as IDisposable)?.Dispose();
            }
        });
        return command;
    }

    /// <summary>--feed-dir with its root keys and upload limit, checked before anything starts; null without --feed-dir.</summary>
    internal static FeedHosting? FeedOption(DirectoryInfo? directory, IReadOnlyList<string> rootKeys, string maxUpload)
    {
        if (!Belay.Core.Programs.ProgramsConfig.TryParseSize(maxUpload, out var max) || max < 1024)
        {
            throw new BelayException(ExitCodes.Usage, $"--feed-max-upload '{maxUpload}': give a size of at least 1KB, like 512MB or 2GB");
        }
        if (directory is null)
        {
            return rootKeys.Count == 0 ? null
                : throw new BelayException(ExitCodes.Usage, "--feed-root-key goes with --feed-dir DIR (the folder the hub serves a pushed feed from)");
        }
        if (rootKeys.Count == 0)
        {
            throw new BelayException(ExitCodes.Usage,
                "--feed-dir needs --feed-root-key KEY: the root public key your hosts pin (root.pub), which every pushed feed's root.json must be reached from");
        }
        var keys = rootKeys.Select(k => Belay.Core.Cli.VerifyCommand.LoadPublicKey(k, "--feed-root-key")).ToList();
        return new FeedHosting(directory.FullName, keys, max);
    }

    /// <summary>`belay-hub migrate [--data DIR | --database postgres://…]`: brings the schema to this build's, and says what it did.</summary>
    public static Command Migrate()
    {
        var data = DataOption.Create();
        var command = new Command("migrate", "Bring the hub database's schema up to this belay-hub's (PostgreSQL: run once, from one node, before starting upgraded nodes).") { data };
        command.SetAction(async (result, cancel) =>
        {
            var database = DataOption.Url(result);
            if (database is null)
            {
                HubServer.CreatePrivateDirectory(result.GetRequiredValue(data).FullName);
            }
            SqlHubStore store = database is null ? new SqliteHubStore(result.GetRequiredValue(data).FullName) : new PostgresHubStore(database);
            var before = await store.AppliedAsync(cancel).ConfigureAwait(false);
            await store.MigrateAsync(cancel).ConfigureAwait(false);
            var done = Migrations.All.Where(s => !before.Contains(s.Version)).ToList();
            Console.WriteLine(done.Count == 0
                ? $"{store.Describe}: already at schema step {Migrations.Latest}"
                : $"{store.Describe}: applied schema step(s) {string.Join(", ", done.Select(s => s.Version))}; now at {Migrations.Latest}");
            if (store is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync().ConfigureAwait(false);
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary>The data folder every command works on, and the database (SQLite in the folder, or PostgreSQL).</summary>
internal static class DataOption
{
    public const string Default = "/var/lib/belay-hub";

    /// <summary>`--database postgres://…`, on every command (recursive, on the root).</summary>
    public static readonly Option<string?> Database = new("--database")
    {
        Description = "PostgreSQL, as postgres://USER@HOST[:PORT]/DATABASE (password via PGPASSWORD or ~/.pgpass), shared by several hub nodes. Default: SQLite in --data.",
        Recursive = true,
    };

    public static Option<DirectoryInfo> Create() => new("--data")
    {
        Description = "The hub's data folder (its SQLite database and keys; with --database, the keys folder and nothing else).",
        DefaultValueFactory = _ => new DirectoryInfo(Default),
    };

    /// <summary>The PostgreSQL database the command was given, or null for SQLite.</summary>
    public static PostgresUrl? Url(ParseResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result.GetValue(Database) is { Length: > 0 } text ? PostgresUrl.Parse(text) : null;
    }

    /// <summary>
    /// The store the admin commands work on. SQLite: the data folder's, migrated (never created by
    /// accident, except by `serve` and the first `user add`/`token create`). PostgreSQL: as it is, at
    /// this build's schema (`belay-hub migrate` first).
    /// </summary>
    public static async Task<SqlHubStore> OpenAsync(ParseResult result, Option<DirectoryInfo> dataOption, bool create, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (Url(result) is { } database)
        {
            var postgres = new PostgresHubStore(database);
            await postgres.EnsureCurrentAsync(cancellationToken).ConfigureAwait(false);
            return postgres;
        }
        var data = result.GetRequiredValue(dataOption);
        if (!File.Exists(Path.Combine(data.FullName, SqliteHubStore.FileName)) && !create)
        {
            throw new BelayException($"no hub database in {data.FullName}: give the hub's --data folder (belay-hub serve --data DIR creates it), or its --database");
        }
        HubServer.CreatePrivateDirectory(data.FullName);
        var store = new SqliteHubStore(data.FullName);
        await store.MigrateAsync(cancellationToken).ConfigureAwait(false);
        return store;
    }
}
