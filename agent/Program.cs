using System.CommandLine;
using System.Runtime.InteropServices;
using Belay.Core;
using Belay.Agent.Supervision;
using Belay.Core.Cli;
using Belay.Core.Install;
using Belay.Core.IO;
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
        // The exec helper runs before anything else: it becomes the program (see ExecHelper).
        if (args.Length > 0 && args[0] == ExecHelper.Verb)
        {
            return ExecHelper.Run(args[1..]);
        }
        if (args.Length == 2 && args[0] == WindowsProgramHost.StopRequestVerb && OperatingSystem.IsWindows())
        {
            return StopRequestHelper(args[1]);
        }
        var config = new Option<FileInfo>("--config") { Description = "The installation's config.json.", Required = true };
        var run = new Command("run", "Run the agent: supervise programs, poll the feed, stage updates, report to the keeper.") { config };
        run.SetAction(async (result, cancel) =>
        {
            var path = result.GetRequiredValue(config).FullName;
            var settings = InstallConfig.Load(path);
            var layout = settings.Layout;
            // Nothing is written through a link planted in the installation (LayoutGuard).
            LayoutGuard.Check(layout);
            Directory.CreateDirectory(layout.LogDir);
            const string consoleTemplate = "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} agent {Level:u3} {Message:lj}{NewLine}{Exception}";
            var logging = new LoggerConfiguration();
            logging = OperatingSystem.IsWindows()
                ? logging.WriteTo.Console(outputTemplate: consoleTemplate)
                : logging.WriteTo.Sink(new WholeLineSink(new Serilog.Formatting.Display.MessageTemplateTextFormatter(consoleTemplate, System.Globalization.CultureInfo.InvariantCulture)));
            using var log = logging
                .WriteTo.File(layout.AgentLog, fileSizeLimitBytes: 10 * 1024 * 1024, rollOnFileSizeLimit: true, retainedFileCountLimit: 5,
                    outputTemplate: "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} {Level:u3} {Message:lj}{NewLine}{Exception}")
                .CreateLogger();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            var lifetime = new AgentLifetime();
            // Windows has no SIGUSR2: the keeper asks over the agent's control channel (HANDOVER, SHUTDOWN).
            lifetime.End = handOver =>
            {
                lifetime.HandOver = handOver;
                try
                {
                    stop.Cancel();
                }
                catch (ObjectDisposedException)
                {
                }
            };
            // SIGTERM/SIGINT: stop everything (service stop, uninstall). SIGUSR2: hand over (the keeper
            // switches versions): exit and leave the programs running. SIGHUP: reload programs.conf.
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnStop);
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnStop);
            using var handover = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create((PosixSignal)PosixProcess.SigUsr2, OnHandOver);
            using var hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                lifetime.Reload?.Invoke();
            });
            // The keeper says which version folder it started; a binary of another build
            // (BuildInfo.Version) in that folder still reports as what the keeper runs.
            var host = new AgentHost(settings, path, log, TimeProvider.System, Environment.GetEnvironmentVariable(KeeperChannel.SocketVariable),
                Environment.GetEnvironmentVariable(KeeperChannel.VersionVariable) is { Length: > 0 } v ? v : BuildInfo.Version, lifetime);
            return await host.RunAsync(stop.Token).ConfigureAwait(false);

            void OnHandOver(PosixSignalContext context)
            {
                lifetime.HandOver = true;
                OnStop(context);
            }

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

    /// <summary>`belay-agent stop-request PID` (Windows): CTRL_BREAK to the program's console process group, else WM_CLOSE
    /// to its windows (<see cref="Belay.Core.Programs.Windows.StopRequest"/>); exit 0 when delivered, 1 when not.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("windows")]
    private static int StopRequestHelper(string pid)
    {
        if (!int.TryParse(pid, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) || id <= 0)
        {
            Console.Error.WriteLine($"belay-agent {WindowsProgramHost.StopRequestVerb}: '{pid}' is not a process id");
            return ExitCodes.Usage;
        }
        var (delivery, detail) = Belay.Core.Programs.Windows.StopRequest.Deliver(new Belay.Core.Programs.Windows.NativeConsoleControl(), id);
        Console.Out.WriteLine(detail);
        return delivery == Belay.Core.Programs.Windows.StopDelivery.NotDelivered ? ExitCodes.Error : ExitCodes.Ok;
    }
}

/// <summary>How the agent was asked to end, and the reload hook SIGHUP calls.</summary>
internal sealed class AgentLifetime
{
    /// <summary>True when the keeper asked for a handover (SIGUSR2): leave the programs running for the next agent.</summary>
    public volatile bool HandOver;

    public Action? Reload { get; set; }

    /// <summary>Ends the agent as the keeper asks on Windows: true hands the programs over, false stops them.</summary>
    public Action<bool>? End { get; set; }
}
