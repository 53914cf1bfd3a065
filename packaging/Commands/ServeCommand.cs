using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Belay.Core;
using Belay.Core.IO;
using Belay.Serving;

namespace Belay.Release.Commands;

/// <summary>serve: the embedded static server for local feeds (production feeds go on nginx, S3 or a CDN).</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var feed = new Option<DirectoryInfo>("--feed") { Description = "The feed folder to serve (read-only).", Required = true };
        var listen = new Option<string>("--listen") { Description = "Address and port; loopback unless you say otherwise. Port 0 picks a free one.", DefaultValueFactory = _ => "127.0.0.1:8080" };
        var command = new Command("serve", "Serve a feed folder over HTTP with ETag, If-None-Match and Range, until interrupted.") { feed, listen };
        command.SetAction(async (result, cancel) =>
        {
            var dir = result.GetRequiredValue(feed);
            if (!dir.Exists)
            {
                throw new BelayException(ExitCodes.Usage, $"feed folder {dir.FullName} does not exist");
            }
            var text = result.GetRequiredValue(listen);
            if (!IPEndPoint.TryParse(text, out var endpoint) || !text.Contains(':', StringComparison.Ordinal))
            {
                throw new BelayException(ExitCodes.Usage, $"--listen '{text}' is not ADDRESS:PORT, like 127.0.0.1:8080 or [::1]:8080");
            }
            if (!FeedServer.IsLoopback(endpoint))
            {
                Console.Error.WriteLine($"belay-release: warning: serving on {endpoint}, reachable from other hosts; the feed is signed, but use TLS (nginx) in production");
            }
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnStop);
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnStop);
            await using var server = new FeedServer(dir.FullName, endpoint, Console.WriteLine);
            try
            {
                await server.StartAsync(stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                // Kestrel wraps the socket's error in an IOException (address in use); say it in our own words.
                SocketException? socket = null;
                for (Exception? inner = e; inner is not null && socket is null; inner = inner.InnerException)
                {
                    socket = inner as SocketException;
                }
                throw socket?.SocketErrorCode switch
                {
                    SocketError.AddressAlreadyInUse => new BelayException($"cannot listen on {endpoint}: another program already listens there; pick a free port with --listen (127.0.0.1:0 picks one)", e),
                    SocketError.AccessDenied when endpoint.Port < 1024 => new BelayException(ExitCodes.NeedsPrivileges,
                        $"cannot listen on {endpoint}: ports below 1024 need root (or CAP_NET_BIND_SERVICE); use a port above 1023, like --listen 127.0.0.1:8080", e),
                    SocketError.AddressNotAvailable => new BelayException(ExitCodes.Usage, $"cannot listen on {endpoint}: that address is not one of this host's", e),
                    _ => new BelayException($"cannot listen on {endpoint}: {SystemErrors.Describe(socket ?? e)}; choose another address or port with --listen", e),
                };
            }
            Console.WriteLine($"serving {dir.FullName} at http://{server.LocalEndPoint}/ (Ctrl-C to stop)");
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            await server.StopAsync().ConfigureAwait(false);
            Console.WriteLine("stopped");
            return ExitCodes.Ok;

            void OnStop(PosixSignalContext context)
            {
                context.Cancel = true;
                try
                {
                    stop.Cancel();
                }
                catch (ObjectDisposedException)
                {
                }
            }
        });
        return command;
    }
}
