using System.Diagnostics;
using System.Globalization;
using Belay.Core;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Services;

namespace Belay.Bootstrapper.Install;

/// <summary>
/// The service manager "none": no definition is registered anywhere; the keeper runs as a
/// detached process (its own session, no terminal, output to keeper.log), found again
/// through its pid file. For containers and hosts without an init system to register with:
/// nothing restarts the keeper there if it dies, and nothing starts it at boot.
/// </summary>
internal sealed class DetachedKeeper : IServiceBackend
{
    private readonly InstallLayout _layout;
    private readonly Action<string> _say;

    public DetachedKeeper(InstallLayout layout, Action<string> say)
    {
        _layout = layout;
        _say = say;
    }

    public string Name => "none";

    public void Install(ServiceDefinition definition, bool start)
    {
        if (start && !IsRunning(_layout))
        {
            Start(definition);
        }
    }

    public bool Uninstall(ServiceDefinition definition)
    {
        var wasRunning = IsRunning(_layout);
        Stop(definition);
        return wasRunning;
    }

    public void Start(ServiceDefinition definition)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new BelayException(ExitCodes.Usage, "the detached keeper (--service-manager none) is not supported on Windows; use --service-manager windows");
        }
        if (IsRunning(_layout))
        {
            return;
        }
        // sh does the redirections, so the keeper holds none of our descriptors (a `curl | sh`
        // pipeline must not wait for it); the keeper starts its own session (--detach) so the
        // terminal's hang-up does not reach it, and takes over keeper.log (--log) to rotate it;
        // the shell's redirection catches what comes before. sh execs bin/belay-keeper itself,
        // not `belay run` (which would only find the config and exec it: one start of this
        // 15 MB executable saved on the one-liner's path), and runs in the foreground as our
        // child, which we do not wait for: an asynchronous list (`&`) starts its command with
        // SIGINT and SIGQUIT ignored (POSIX), and the keeper started that way ignored SIGINT.
        if (!File.Exists(_layout.KeeperExe))
        {
            // An installation without its keeper: `belay run` says so in keeper.log.
            RunShell("exec \"$0\" run --config \"$1\" --detach --log \"$2\" </dev/null >>\"$2\" 2>&1 &", _layout.BelayExe, wait: true);
            return;
        }
        RunShell("exec \"$0\" --config \"$1\" --detach --log \"$2\" </dev/null >>\"$2\" 2>&1", _layout.KeeperExe, wait: false);
    }

    private void RunShell(string script, string exe, bool wait)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        foreach (var arg in new[] { "-c", script, exe, _layout.ConfigFile, _layout.KeeperLog })
        {
            psi.ArgumentList.Add(arg);
        }
        using var shell = Process.Start(psi) ?? throw new BelayException("could not start /bin/sh to launch the keeper");
        if (!wait)
        {
            return; // the keeper itself; WaitReadyAsync follows it from here (keeper.pid, keeper.sock)
        }
        shell.WaitForExit();
        if (shell.ExitCode != 0)
        {
            throw new BelayException($"launching the keeper failed (sh exit {shell.ExitCode})");
        }
    }

    /// <summary>Stops the keeper (SIGTERM; it stops the agent first) and waits for it to go (<see cref="KeeperExit"/>: up to 35 s, as it stops the agent, which stops its programs, each within its stop_timeout), then ends it. Only a process that runs this installation's keeper is signalled.</summary>
    public void Stop(ServiceDefinition definition)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        using var keeper = KeeperExit.Find(_layout);
        if (keeper is null && !KeeperExit.IsRunning(_layout))
        {
            return;
        }
        if (keeper is not null)
        {
            Posix.SendSignal(keeper.Id, Posix.SigTerm);
        }
        var pid = keeper?.Id;
        if (KeeperExit.WaitOrEnd(_layout, keeper, KeeperExit.Grace, _say))
        {
            _say(pid is { } p ? $"stopped the keeper (pid {p})" : "stopped the keeper");
        }
    }

    public void Restart(ServiceDefinition definition)
    {
        Stop(definition);
        Start(definition);
    }

    public ServiceStatus Status(ServiceDefinition definition)
    {
        var pid = ReadPid(_layout.KeeperPidFile);
        var running = IsRunning(_layout);
        return new ServiceStatus(true, running, running ? "running (detached)" : "not running",
            running ? $"keeper pid {pid}; log {_layout.KeeperLog}" : $"start it with: belay install (or {_layout.BelayExe} run --config {_layout.ConfigFile} --detach --log {_layout.KeeperLog} &)");
    }

    /// <summary>Waits (up to <paramref name="timeout"/>) until no keeper of this installation runs.</summary>
    public static void WaitGone(InstallLayout layout, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (IsRunning(layout) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
        }
    }

    /// <summary>Whether a keeper of this installation runs (it holds keeper.lock; <see cref="KeeperExit.IsRunning"/>).</summary>
    public static bool IsRunning(InstallLayout layout) => !OperatingSystem.IsWindows() && KeeperExit.IsRunning(layout);

    public static int? ReadPid(string path) => KeeperExit.ReadPid(path);
}
