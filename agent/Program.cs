using System.CommandLine;
using System.Runtime.InteropServices;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Install;
using Serilog;

namespace Belay.Agent;

/// <summary>
/// belay-agent: the supervisor and feed poller that the keeper starts (`belay-agent run`),
/// never by hand in production.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        var config = new Option<FileInfo>("--config") { Description = "The installation's config.json.", Required = true };
        var run = new Command("run", "Run the agent: poll the feed, stage updates, report to the keeper.") { config };
        run.SetAction(async (result, cancel) =>
        {
            var path = result.GetRequiredValue(config).FullName;
            var settings = InstallConfig.Load(path);
            var layout = settings.Layout;
            Directory.CreateDirectory(layout.LogDir);
            using var log = new LoggerConfiguration()
                .WriteTo.Console(outputTemplate: "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} agent {Level:u3} {Message:lj}{NewLine}{Exception}")
                .WriteTo.File(layout.AgentLog, fileSizeLimitBytes: 10 * 1024 * 1024, rollOnFileSizeLimit: true, retainedFileCountLimit: 5,
                    outputTemplate: "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} {Level:u3} {Message:lj}{NewLine}{Exception}")
                .CreateLogger();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnStop);
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnStop);
            // The keeper says which version folder it started; a binary of another build
            // (BuildInfo.Version) in that folder still reports as what the keeper runs.
            var host = new AgentHost(settings, path, log, TimeProvider.System, Environment.GetEnvironmentVariable(KeeperChannel.SocketVariable),
                Environment.GetEnvironmentVariable(KeeperChannel.VersionVariable) is { Length: > 0 } v ? v : BuildInfo.Version);
            return await host.RunAsync(stop.Token).ConfigureAwait(false);

            void OnStop(PosixSignalContext context)
            {
                context.Cancel = true;
                try
                {
                    stop.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // Already on the way out.
                }
            }
        });
        var root = new RootCommand("belay-agent: the Belay agent (started by `belay run`, not by hand).")
        {
            run,
            RootKeysCommand.Create(BuildInfo.RootKeys),
        };
        return CliHost.Run(root, args, "belay-agent");
    }
}
