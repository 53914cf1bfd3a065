using System.Globalization;
using System.Runtime.InteropServices;
using Belay.Agent.Logging;
using Belay.Agent.Supervision;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Install;
using Belay.Core.IO;
using Serilog;

namespace Belay.Agent;

/// <summary>
/// belay-agent: the supervisor and feed poller that the keeper starts (`belay-agent run`),
/// never by hand in production. Its command line is four words, read here without
/// System.CommandLine (which `belay` and `belay-release` keep): the agent is what every host
/// runs all the time and downloads with every update, and the parser's types cost it about
/// 0.6 MB of executable and resident memory (docs/architecture.md, "Footprint").
/// </summary>
internal static class Program
{
    private const string Usage = """
        belay-agent: the Belay agent (started by `belay run`, not by hand).

        Usage:
          belay-agent run --config CONFIG   supervise programs, poll the feed, stage updates, report to the keeper
          belay-agent root-keys             print the root public keys compiled into this build
          belay-agent --version [--json]    print the version, commit, source date and runtime identifier
          belay-agent --help                this text
        """;

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
        try
        {
            return args switch
            {
                ["run", "--config", var config] => RunAsync(config).GetAwaiter().GetResult(),
                ["run", var option] when option.StartsWith("--config=", StringComparison.Ordinal) => RunAsync(option["--config=".Length..]).GetAwaiter().GetResult(),
                ["run", ..] => UsageError("run needs --config CONFIG (the installation's config.json)"),
                ["root-keys"] => RootKeys(),
                ["--version" or "version"] => Print(BuildInfo.Facts.ToLine()),
                ["--version" or "version", "--json"] or ["--json", "--version"] => Print(BuildInfo.Facts.ToJson("belay-agent")),
                ["--help" or "-h" or "-?" or "help"] or [] => Print(Usage),
                _ => UsageError($"unknown command line '{string.Join(' ', args)}'"),
            };
        }
        catch (BelayException e)
        {
            Console.Error.WriteLine($"belay-agent: {e.Message}");
            return e.ExitCode;
        }
        catch (Exception e) when (SystemErrors.IsEnvironmental(e))
        {
            // A last resort, in our own words (NativeAOT drops the runtime's messages).
            var denied = e is UnauthorizedAccessException || e.InnerException is UnauthorizedAccessException;
            Console.Error.WriteLine($"belay-agent: {SystemErrors.Describe(e)}{(denied ? "; run it as the owner of the files (sudo for a system-wide installation)" : "")}");
            return denied ? ExitCodes.NeedsPrivileges : ExitCodes.Error;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"belay-agent: internal error, please report it: {e}");
            return ExitCodes.Error;
        }
    }

    private static int Print(string text)
    {
        Console.Out.WriteLine(text.TrimEnd());
        return ExitCodes.Ok;
    }

    private static int UsageError(string message)
    {
        Console.Error.WriteLine($"belay-agent: {message}");
        Console.Error.WriteLine("Run 'belay-agent --help' for usage.");
        return ExitCodes.Usage;
    }

    private static int RootKeys()
    {
        var keys = RootKeysCommand.Parse(BuildInfo.RootKeys);
        if (keys.Count == 0)
        {
            Console.Error.WriteLine("no root key is compiled into this build; installs must pin one with --root-key");
            return ExitCodes.Error;
        }
        foreach (var key in keys)
        {
            Console.Out.WriteLine($"{key.ToBase64()}  (key id {key.KeyIdHex})");
        }
        return ExitCodes.Ok;
    }

    private static async Task<int> RunAsync(string configFile)
    {
        var path = Path.GetFullPath(configFile);
        var settings = InstallConfig.Load(path);
        var layout = settings.Layout;
        // Nothing is written through a link planted in the installation (LayoutGuard).
        LayoutGuard.Check(layout);
        Directory.CreateDirectory(layout.LogDir);
        using var sink = new AgentLogSink(layout.AgentLog, console: true);
        using var log = new LoggerConfiguration().WriteTo.Sink(sink).CreateLogger();
        using var stop = new CancellationTokenSource();
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
        var keeperPid = int.TryParse(Environment.GetEnvironmentVariable(KeeperChannel.KeeperPidVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var kp) ? kp : (int?)null;
        var host = new AgentHost(settings, path, log, TimeProvider.System, Environment.GetEnvironmentVariable(KeeperChannel.SocketVariable), keeperPid,
            Environment.GetEnvironmentVariable(KeeperChannel.VersionVariable) is { Length: > 0 } v ? v : BuildInfo.Version, lifetime);
        try
        {
            return await host.RunAsync(stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("belay-agent: interrupted");
            return 130;
        }

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
