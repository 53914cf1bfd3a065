using System.Runtime.Versioning;
using Belay.Core.Install;
using Belay.Core.Services.Windows;
using Belay.Keeper;

namespace Belay.Bootstrapper.Keeper;

/// <summary>
/// `belay run --config C --service`: the keeper as a Windows service, started by the SCM from the
/// image path the Windows backend registered (<see cref="WindowsServiceBackend.ImagePath"/>).
/// <list type="bullet">
/// <item>A service has no console: the keeper's output is appended to keeper.log (the log folder
///   of its config), as the other backends do with StandardOutput/StdoutLog.</item>
/// <item>SERVICE_START_PENDING (checkpoint and wait hint renewed every <see cref="PendingBeat"/>)
///   until the first agent is ready, then SERVICE_RUNNING. The SCM sends no stop control to a
///   starting service and an automatic start holds back the services after it, so the keeper
///   reports RUNNING after <see cref="ReadyLimit"/> at the latest, agent ready or not (belay
///   status tells whether it is).</item>
/// <item>SERVICE_CONTROL_STOP or SHUTDOWN: SERVICE_STOP_PENDING, the keeper stops (it stops the
///   agent first), then SERVICE_STOPPED with the keeper's exit code.</item>
/// </list>
/// </summary>
[SupportedOSPlatform("windows")]
internal static class WindowsServiceHost
{
    /// <summary>RUNNING at the latest this long after the start, even without a ready agent.</summary>
    public static readonly TimeSpan ReadyLimit = TimeSpan.FromSeconds(15);

    /// <summary>How often a new START_PENDING checkpoint goes to the SCM.</summary>
    public static readonly TimeSpan PendingBeat = TimeSpan.FromSeconds(2);

    public static int Run(InstallConfig settings, string configPath)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return ServiceDispatcher.Run(WindowsServiceBackend.DefaultServiceName, context => RunKeeper(context, settings, configPath), KeeperHost.Log);
    }

    private static int RunKeeper(ServiceContext context, InstallConfig settings, string configPath)
    {
        // Only now, connected to the SCM: a console run of `belay run --service` keeps its console
        // for the error. The writer stays open until the process ends: the dispatcher may log after the body.
        var layout = settings.Layout;
        Directory.CreateDirectory(layout.LogDir);
        var log = new StreamWriter(new FileStream(layout.KeeperLog, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete)) { AutoFlush = true };
        Console.SetOut(TextWriter.Synchronized(log));
        Console.SetError(Console.Out);
        using var ready = new ManualResetEventSlim();
        using var host = new KeeperHost(settings, configPath, TimeProvider.System) { OnReady = _ => ready.Set() };
        using var stopping = context.StopRequested.Register(host.RequestStop);
        var keeper = Task.Run(() => host.RunAsync(CancellationToken.None));
        var started = DateTimeOffset.UtcNow;
        while (!ready.IsSet && !keeper.IsCompleted && !context.StopRequested.IsCancellationRequested)
        {
            if (DateTimeOffset.UtcNow - started >= ReadyLimit)
            {
                KeeperHost.Log($"no agent ready within {ReadyLimit.TotalSeconds:0} s; reporting the service as running anyway (belay status shows the agent)");
                break;
            }
            context.ReportStartPending(PendingBeat * 3);
            ready.Wait(PendingBeat);
        }
        if (!keeper.IsCompleted)
        {
            context.ReportRunning();
            KeeperHost.Log("service running");
        }
        return keeper.GetAwaiter().GetResult();
    }
}
