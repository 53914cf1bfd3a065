using System.CommandLine;
using Belay.Core;
using Belay.Hub.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Belay.Hub.Cli;

/// <summary>`belay-hub serve --data DIR [--listen ADDR:PORT] [--tls-cert F --tls-key F] [--insecure-http] [--log FILE]`.</summary>
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
        var command = new Command("serve", "Run the hub: agents connect to /agent/v1, operators use the page and /api/v1.") { data, listen, cert, key, insecure, logFile };
        command.SetAction(async (result, cancel) =>
        {
            var options = ServeOptions.Parse(result.GetRequiredValue(data).FullName, result.GetRequiredValue(listen), result.GetValue(cert)?.FullName,
                result.GetValue(key)?.FullName, result.GetValue(insecure));
            HubServer.CreatePrivateDirectory(options.DataDirectory);
            var log = HubServer.CreateLog(result.GetValue(logFile)?.FullName);
            try
            {
                var store = new SqliteHubStore(options.DataDirectory);
                await store.MigrateAsync(cancel).ConfigureAwait(false);
                await using var app = HubServer.Build(options, log, store);
                try
                {
                    await app.StartAsync(cancel).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    throw new BelayException($"cannot listen on {options.Listen}: {e.Message}", e);
                }
                var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? options.Listen.ToString();
                Console.WriteLine($"belay-hub {BuildInfo.Version} listening on {address.TrimEnd('/')}/ (data {options.DataDirectory}, SQLite {SqliteHubStore.SqliteVersion})");
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
}

/// <summary>The data folder every command works on.</summary>
internal static class DataOption
{
    public const string Default = "/var/lib/belay-hub";

    public static Option<DirectoryInfo> Create() => new("--data")
    {
        Description = "The hub's data folder (its SQLite database and keys).",
        DefaultValueFactory = _ => new DirectoryInfo(Default),
    };

    /// <summary>The store of an existing data folder (the admin commands never create one by accident, except `serve` and the first `user add`/`token create`).</summary>
    public static async Task<SqliteHubStore> OpenAsync(DirectoryInfo data, bool create, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!File.Exists(Path.Combine(data.FullName, SqliteHubStore.FileName)) && !create)
        {
            throw new BelayException($"no hub database in {data.FullName}: give the hub's --data folder (belay-hub serve --data DIR creates it)");
        }
        HubServer.CreatePrivateDirectory(data.FullName);
        var store = new SqliteHubStore(data.FullName);
        await store.MigrateAsync(cancellationToken).ConfigureAwait(false);
        return store;
    }
}
