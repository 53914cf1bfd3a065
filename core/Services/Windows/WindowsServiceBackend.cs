using Belay.Core.Install;

namespace Belay.Core.Services.Windows;

/// <summary>
/// The keeper as a Windows service, registered through the Service Control Manager API
/// (<see cref="IServiceControlManager"/>; <see cref="NativeServiceControlManager"/> on Windows).
/// <list type="bullet">
/// <item>Service name <c>Belay</c> (the model's default name "belay" capitalised; SCM names are
///   case-insensitive, so <c>sc qc belay</c> finds it too), display name "Belay keeper", the
///   model's description.</item>
/// <item>Image path: the quoted executable and its arguments (<see cref="WindowsCommandLine"/>),
///   plus <c>--service</c>, which tells <c>belay run</c> that the SCM started it, so it connects
///   to the SCM through StartServiceCtrlDispatcher instead of running as a console program.</item>
/// <item>SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START with delayed auto-start (the keeper's first
///   feed check should not compete with the boot), SERVICE_ERROR_NORMAL, LocalSystem unless the
///   model names an account (a built-in or managed account: no password is stored).</item>
/// <item>Recovery (for <see cref="RestartPolicy.Always"/> and <see cref="RestartPolicy.OnFailure"/>):
///   restart after <see cref="ServiceDefinition.RestartDelaySeconds"/> on the first, second and
///   subsequent failures (the SCM repeats the last action), failure count reset after a day
///   without failures, and the failure-actions flag, so that a keeper that stops with a non-zero
///   exit code is restarted too, not only one that crashes. <see cref="RestartPolicy.Never"/>:
///   no actions, flag off.</item>
/// </list>
/// The SCM has no per-user services, environment or working directory for a service: a
/// user-scope definition and one with environment variables are refused (the keeper uses
/// absolute paths from its config, so the working directory does not matter).
/// </summary>
public sealed class WindowsServiceBackend : IServiceBackend
{
    /// <summary>The SCM name of the keeper's service.</summary>
    public const string DefaultServiceName = "Belay";
    public const string DisplayName = "Belay keeper";

    /// <summary>The argument <c>belay run</c> gets when the SCM starts it.</summary>
    public const string ServiceFlag = "--service";

    /// <summary>The failure count goes back to zero after a day without failures.</summary>
    public const uint ResetPeriodSeconds = 24 * 60 * 60;

    /// <summary>How often the backend asks the SCM whether a stopping service has stopped.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    private readonly IServiceControlManager _scm;
    private readonly TimeProvider _clock;
    private readonly Action<TimeSpan> _sleep;

    /// <param name="scm">The SCM (a fake in tests).</param>
    /// <param name="clock">Measures the stop timeout.</param>
    /// <param name="sleep">Waits between status queries (tests advance a fake clock instead of sleeping).</param>
    public WindowsServiceBackend(IServiceControlManager scm, TimeProvider? clock = null, Action<TimeSpan>? sleep = null)
    {
        _scm = scm ?? throw new ArgumentNullException(nameof(scm));
        _clock = clock ?? TimeProvider.System;
        _sleep = sleep ?? Thread.Sleep;
    }

    public string Name => "windows";

    /// <summary>The SCM name for a definition: "Belay" for the default model name "belay", else the model's name.</summary>
    public static string ServiceName(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var name = definition.Name == "belay" ? DefaultServiceName : definition.Name;
        if (name.Length is 0 or > 256 || name.Contains('/', StringComparison.Ordinal) || name.Contains('\\', StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{name}' is not a Windows service name (1 to 256 characters, no / or \\)", nameof(definition));
        }
        return name;
    }

    /// <summary>The image path the SCM runs: the quoted command line, then <see cref="ServiceFlag"/>.</summary>
    public static string ImagePath(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var line = definition.CommandLine.ToList();
        if (line.Count == 0)
        {
            throw new ArgumentException("the service definition has no command line", nameof(definition));
        }
        if (!line.Contains(ServiceFlag))
        {
            line.Add(ServiceFlag);
        }
        return WindowsCommandLine.Join(line);
    }

    /// <summary>The recovery settings for a restart policy: three restarts after the delay, or none.</summary>
    public static (FailureActions Actions, bool OnNonCrashFailures) Recovery(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (definition.Restart == RestartPolicy.Never)
        {
            return (new FailureActions(0, []), false);
        }
        var delay = (uint)Math.Max(0, definition.RestartDelaySeconds) * 1000u;
        var restart = new FailureAction(Scm.ActionRestart, delay);
        return (new FailureActions(ResetPeriodSeconds, [restart, restart, restart]), true);
    }

    public void Install(ServiceDefinition definition, bool start) => Register(definition, start);

    /// <summary>
    /// <see cref="Install"/> without starting it, through one connection to the service control
    /// manager; true if the manager it reached did not know the service (registered), false if it
    /// did (configuration set again). Where two service control managers answer (Wine, see
    /// <c>belay msi configure</c>), each call reaches one of them.
    /// </summary>
    public bool RegisterWithOneManager(ServiceDefinition definition) => Register(definition, start: false);

    /// <summary>How many connections in a row must find the service known before <see cref="RegisterWithEveryManager"/> stops.</summary>
    public const int KnownInARow = 4;

    /// <summary>The most connections <see cref="RegisterWithEveryManager"/> makes.</summary>
    public const int MostConnections = 32;

    /// <summary>
    /// <see cref="RegisterWithOneManager"/> over new connections until <see cref="KnownInARow"/> in a
    /// row found the service known (at most <see cref="MostConnections"/>): registers it with every
    /// service control manager that answers, where more than one does. How many registered it.
    /// </summary>
    public int RegisterWithEveryManager(ServiceDefinition definition)
    {
        var registered = 0;
        var known = 0;
        for (var i = 0; i < MostConnections && known < KnownInARow; i++)
        {
            if (RegisterWithOneManager(definition))
            {
                registered++;
                known = 0;
            }
            else
            {
                known++;
            }
        }
        return registered;
    }

    private bool Register(ServiceDefinition definition, bool start)
    {
        ArgumentNullException.ThrowIfNull(definition);
        Check(definition);
        var name = ServiceName(definition);
        var imagePath = ImagePath(definition);
        var manager = _scm.OpenManager(Scm.ManagerConnect | Scm.ManagerCreateService);
        try
        {
            const uint access = Scm.QueryConfig | Scm.ChangeConfigAccess | Scm.QueryStatusAccess | Scm.StartAccess | Scm.StopAccess;
            nint service;
            var existed = false;
            try
            {
                service = _scm.CreateService(manager, name, DisplayName, access, Scm.Win32OwnProcess, Scm.AutoStart, Scm.ErrorNormal, imagePath, definition.User);
            }
            catch (ServiceControlException e) when (e.Error == Scm.ErrorServiceExists)
            {
                existed = true;
                service = _scm.OpenService(manager, name, access);
            }
            try
            {
                if (existed)
                {
                    _scm.ChangeConfig(service, Scm.Win32OwnProcess, Scm.AutoStart, Scm.ErrorNormal, imagePath, definition.User, DisplayName);
                }
                WindowsServiceSettings.Change(_scm, service, definition);
                if (start)
                {
                    if (existed)
                    {
                        StopAndWait(service, name, definition);
                    }
                    StartOne(service);
                }
            }
            finally
            {
                _scm.CloseHandle(service);
            }
            return !existed;
        }
        finally
        {
            _scm.CloseHandle(manager);
        }
    }

    public bool Uninstall(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var name = ServiceName(definition);
        var manager = _scm.OpenManager(Scm.ManagerConnect);
        try
        {
            nint service;
            try
            {
                service = _scm.OpenService(manager, name, Scm.QueryStatusAccess | Scm.StopAccess | Scm.Delete);
            }
            catch (ServiceControlException e) when (e.Error == Scm.ErrorServiceDoesNotExist)
            {
                return false;
            }
            try
            {
                StopAndWait(service, name, definition);
                try
                {
                    _scm.DeleteService(service);
                }
                catch (ServiceControlException e) when (e.Error == Scm.ErrorServiceMarkedForDelete)
                {
                    // Already deleted by someone else; it goes when the last handle closes.
                }
                return true;
            }
            finally
            {
                _scm.CloseHandle(service);
            }
        }
        finally
        {
            _scm.CloseHandle(manager);
        }
    }

    public void Start(ServiceDefinition definition) =>
        WithService(definition, Scm.QueryStatusAccess | Scm.StartAccess, (service, _) => StartOne(service));

    public void Stop(ServiceDefinition definition) =>
        WithService(definition, Scm.QueryStatusAccess | Scm.StopAccess, (service, name) => StopAndWait(service, name, definition));

    public void Restart(ServiceDefinition definition) =>
        WithService(definition, Scm.QueryStatusAccess | Scm.StartAccess | Scm.StopAccess, (service, name) =>
        {
            StopAndWait(service, name, definition);
            StartOne(service);
        });

    public ServiceStatus Status(ServiceDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var name = ServiceName(definition);
        var manager = _scm.OpenManager(Scm.ManagerConnect);
        try
        {
            nint service;
            try
            {
                service = _scm.OpenService(manager, name, Scm.QueryStatusAccess);
            }
            catch (ServiceControlException e) when (e.Error == Scm.ErrorServiceDoesNotExist)
            {
                return new ServiceStatus(false, false, "not installed", $"no Windows service {name} (sc query {name})");
            }
            try
            {
                var status = _scm.QueryStatus(service);
                var pid = status.ProcessId != 0 ? $", pid {status.ProcessId}" : "";
                var exit = status.CurrentState == Scm.Stopped && status.Win32ExitCode != 0 ? $", last exit {ExitCodeText(status)}" : "";
                return new ServiceStatus(true, status.CurrentState == Scm.Running, Scm.StateName(status.CurrentState),
                    $"Windows service {name}{pid}{exit}: sc queryex {name}, sc qc {name}, sc qfailure {name}");
            }
            finally
            {
                _scm.CloseHandle(service);
            }
        }
        finally
        {
            _scm.CloseHandle(manager);
        }
    }

    private static string ExitCodeText(ServiceStatusProcess status) =>
        status.Win32ExitCode == 1066 /* ERROR_SERVICE_SPECIFIC_ERROR */ ? $"{status.ServiceSpecificExitCode} (service-specific)" : $"{status.Win32ExitCode}";

    private static void Check(ServiceDefinition definition)
    {
        if (definition.Scope == InstallScope.User)
        {
            throw new BelayException(ExitCodes.Usage,
                "the Windows service control manager has no per-user services: install for the whole machine (--scope system) from an elevated prompt, " +
                "or for your user alone with --scope user --service-manager none");
        }
        if (definition.Environment.Count > 0)
        {
            throw new BelayException(ExitCodes.Usage,
                "the Windows backend does not set environment variables for the service; the keeper reads what it needs from its config");
        }
        if (definition.CommandLine.Count == 0 || (!Path.IsPathFullyQualified(definition.CommandLine[0]) && !IsWindowsAbsolute(definition.CommandLine[0])))
        {
            throw new ArgumentException($"the keeper's executable must be an absolute path, got '{(definition.CommandLine.Count > 0 ? definition.CommandLine[0] : "")}'", nameof(definition));
        }
    }

    /// <summary>C:\... or \\server\share\... (checked by hand so that the tests on Linux see Windows paths as absolute).</summary>
    private static bool IsWindowsAbsolute(string path) =>
        (path.Length >= 3 && char.IsAsciiLetter(path[0]) && path[1] == ':' && path[2] is '\\' or '/') || path.StartsWith(@"\\", StringComparison.Ordinal);

    private void WithService(ServiceDefinition definition, uint access, Action<nint, string> act)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var name = ServiceName(definition);
        var manager = _scm.OpenManager(Scm.ManagerConnect);
        try
        {
            var service = _scm.OpenService(manager, name, access); // not installed: throws, saying so
            try
            {
                act(service, name);
            }
            finally
            {
                _scm.CloseHandle(service);
            }
        }
        finally
        {
            _scm.CloseHandle(manager);
        }
    }

    private void StartOne(nint service)
    {
        try
        {
            _scm.StartService(service);
        }
        catch (ServiceControlException e) when (e.Error == Scm.ErrorServiceAlreadyRunning)
        {
            // Started meanwhile (delayed auto-start, or another start): that is what was asked.
        }
    }

    /// <summary>
    /// Asks the service to stop and waits (polling QueryServiceStatusEx) until it has, for at most
    /// <see cref="ServiceDefinition.StopTimeoutSeconds"/>. A service that is not running is fine;
    /// one still starting (it accepts no control yet) is asked again until the time is up.
    /// </summary>
    private void StopAndWait(nint service, string name, ServiceDefinition definition)
    {
        var timeout = TimeSpan.FromSeconds(Math.Max(1, definition.StopTimeoutSeconds));
        var deadline = _clock.GetUtcNow() + timeout;
        ServiceStatusProcess status;
        while (true)
        {
            try
            {
                status = _scm.ControlService(service, Scm.ControlStop);
                break;
            }
            catch (ServiceControlException e) when (e.Error == Scm.ErrorServiceNotActive)
            {
                return;
            }
            catch (ServiceControlException e) when (e.Error == Scm.ErrorServiceCannotAcceptControl)
            {
                status = _scm.QueryStatus(service);
                if (status.CurrentState == Scm.Stopped)
                {
                    return;
                }
                if (status.CurrentState == Scm.StopPending)
                {
                    break;
                }
                if (_clock.GetUtcNow() >= deadline)
                {
                    throw TimedOut(name, timeout, status);
                }
                _sleep(PollInterval);
            }
        }
        while (status.CurrentState != Scm.Stopped)
        {
            if (_clock.GetUtcNow() >= deadline)
            {
                throw TimedOut(name, timeout, status);
            }
            _sleep(PollInterval);
            status = _scm.QueryStatus(service);
        }
    }

    private static BelayException TimedOut(string name, TimeSpan timeout, ServiceStatusProcess status) =>
        new(ExitCodes.Error,
            $"Windows service {name} did not stop within {timeout.TotalSeconds:0} s (it is {Scm.StateName(status.CurrentState)}" +
            (status.ProcessId != 0 ? $", pid {status.ProcessId}); end it with taskkill /pid {status.ProcessId} /t /f" : ")") +
            $" and try again; sc queryex {name} shows it");
}
