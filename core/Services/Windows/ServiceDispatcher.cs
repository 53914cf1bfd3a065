using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Belay.Core.Services.Windows;

/// <summary>
/// What a program run by the SCM tells it, and hears from it: <see cref="ServiceDispatcher.Run"/>
/// hands one to the service's body.
/// </summary>
[SupportedOSPlatform("windows")]
public sealed class ServiceContext : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private bool _disposed;

    internal ServiceContext(string[] arguments)
    {
        Arguments = arguments;
    }

    /// <summary>The arguments of StartService (sc start NAME ARGS...); the image path's own arguments are in Main's args.</summary>
    public IReadOnlyList<string> Arguments { get; }

    /// <summary>Cancelled when the SCM asks the service to stop (SERVICE_CONTROL_STOP, or SHUTDOWN at system shutdown).</summary>
    public CancellationToken StopRequested => _stop.Token;

    /// <summary>SERVICE_START_PENDING with the next checkpoint: "still starting, ask again within <paramref name="waitHint"/>".</summary>
    public void ReportStartPending(TimeSpan waitHint)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ServiceDispatcher.Report(Scm.StartPending, 0, waitHint);
    }

    /// <summary>SERVICE_RUNNING: started; stop and shutdown controls are accepted from now on.</summary>
    public void ReportRunning()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ServiceDispatcher.Report(Scm.Running, 0, TimeSpan.Zero);
    }

    public void Dispose()
    {
        _disposed = true;
        _stop.Dispose();
    }

    internal void RequestStop()
    {
        if (!_disposed)
        {
            _stop.Cancel();
        }
    }
}

/// <summary>
/// Runs the process as a Windows service (SERVICE_WIN32_OWN_PROCESS): StartServiceCtrlDispatcherW
/// calls <c>ServiceMain</c> on a thread of its own, which registers a control handler
/// (RegisterServiceCtrlHandlerExW), reports SERVICE_START_PENDING, runs the body, and reports
/// SERVICE_STOPPED with the body's exit code (a non-zero code goes to the SCM as a
/// service-specific error, which the failure-actions flag makes count as a failure). The
/// handler answers STOP and SHUTDOWN with SERVICE_STOP_PENDING and cancels
/// <see cref="ServiceContext.StopRequested"/>. One service per process.
/// </summary>
[SupportedOSPlatform("windows")]
public static unsafe class ServiceDispatcher
{
    private const uint NoError = 0;
    private const uint ErrorCallNotImplemented = 120;
    private const uint ErrorServiceSpecificError = 1066;

    /// <summary>How long the SCM should wait between STOP_PENDING checkpoints.</summary>
    public static readonly TimeSpan StopWaitHint = TimeSpan.FromSeconds(30);

    private static readonly Lock Gate = new();
    private static string _name = "";
    private static Func<ServiceContext, int>? _body;
    private static Action<string>? _log;
    private static ServiceContext? _context;
    private static nint _statusHandle;
    private static uint _state;
    private static uint _checkPoint;
    private static int _exitCode = -1;

    /// <summary>
    /// Connects to the SCM and runs <paramref name="body"/> as service <paramref name="name"/>;
    /// returns the body's exit code once the service has stopped.
    /// </summary>
    /// <exception cref="BelayException">The process was not started by the SCM (error 1063), or the dispatcher failed.</exception>
    public static int Run(string name, Func<ServiceContext, int> body, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(name);
        _name = name;
        _body = body ?? throw new ArgumentNullException(nameof(body));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        fixed (char* serviceName = name)
        {
            var table = stackalloc Advapi32.ServiceTableEntry[2];
            table[0] = new Advapi32.ServiceTableEntry { ServiceName = serviceName, ServiceProc = &ServiceMain };
            table[1] = default;
            // Blocks until ServiceMain has returned and the service is stopped.
            if (Advapi32.StartServiceCtrlDispatcher(table) == 0)
            {
                var error = Marshal.GetLastPInvokeError();
                throw error == Scm.ErrorFailedServiceControllerConnect
                    ? new BelayException(ExitCodes.Usage, "belay run --service is what the Windows service control manager starts; " +
                        "run the keeper as a service with sc start " + name + ", or without --service in a console")
                    : new BelayException($"StartServiceCtrlDispatcher failed: Win32 error {error}");
            }
        }
        return _exitCode;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvStdcall)])]
    private static void ServiceMain(uint argc, char** argv)
    {
        // Nothing may escape an UnmanagedCallersOnly method: it would end the process without a word to the SCM.
        try
        {
            var args = new string[argc];
            for (var i = 0; i < argc; i++)
            {
                args[i] = new string(argv[i]);
            }
            fixed (char* serviceName = _name)
            {
                _statusHandle = Advapi32.RegisterServiceCtrlHandlerEx(serviceName, &Handler, null);
            }
            if (_statusHandle == 0)
            {
                _log?.Invoke($"RegisterServiceCtrlHandlerEx failed: Win32 error {Marshal.GetLastPInvokeError()}");
                _exitCode = ExitCodes.Error;
                return;
            }
            var context = new ServiceContext(args.Length > 1 ? args[1..] : []);
            lock (Gate)
            {
                _context = context;
            }
            Report(Scm.StartPending, 0, TimeSpan.FromSeconds(10));
            int code;
            try
            {
                code = _body!(context);
            }
            catch (Exception e)
            {
                _log?.Invoke($"the service failed: {e.Message}");
                code = e is BelayException b ? b.ExitCode : ExitCodes.Error;
            }
            lock (Gate)
            {
                _context = null;
            }
            context.Dispose();
            _exitCode = code;
            Report(Scm.Stopped, code, TimeSpan.Zero);
        }
        catch (Exception e)
        {
            _exitCode = ExitCodes.Error;
            _log?.Invoke($"ServiceMain failed: {e}");
            if (_statusHandle != 0)
            {
                Report(Scm.Stopped, ExitCodes.Error, TimeSpan.Zero);
            }
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvStdcall)])]
    private static uint Handler(uint control, uint eventType, void* eventData, void* context)
    {
        try
        {
            switch (control)
            {
                case Scm.ControlStop:
                case Scm.ControlShutdown:
                    ServiceContext? service;
                    lock (Gate)
                    {
                        service = _context;
                        if (_state is Scm.Stopped or Scm.StopPending)
                        {
                            return NoError;
                        }
                    }
                    Report(Scm.StopPending, 0, StopWaitHint);
                    _log?.Invoke(control == Scm.ControlStop ? "the service control manager asks the keeper to stop" : "Windows is shutting down");
                    service?.RequestStop();
                    return NoError;
                case Scm.ControlInterrogate:
                    return NoError;
                default:
                    return ErrorCallNotImplemented;
            }
        }
        catch (Exception e)
        {
            _log?.Invoke($"service control handler failed: {e.Message}");
            return NoError;
        }
    }

    /// <summary>SetServiceStatus. Pending states count checkpoints up; a stop-pending service accepts no more controls.</summary>
    internal static void Report(uint state, int exitCode, TimeSpan waitHint)
    {
        lock (Gate)
        {
            if (_statusHandle == 0)
            {
                return;
            }
            if (_state is Scm.StopPending or Scm.Stopped && state is Scm.StartPending or Scm.Running)
            {
                return; // a stop came first; a late "running" must not undo it
            }
            var pending = state is Scm.StartPending or Scm.StopPending;
            _checkPoint = pending ? (_state == state ? _checkPoint + 1 : 1) : 0;
            _state = state;
            var status = new Advapi32.ServiceStatus
            {
                ServiceType = Scm.Win32OwnProcess,
                CurrentState = state,
                ControlsAccepted = state == Scm.Running ? Scm.AcceptStop | Scm.AcceptShutdown : 0,
                Win32ExitCode = exitCode == 0 ? NoError : ErrorServiceSpecificError,
                ServiceSpecificExitCode = (uint)exitCode,
                CheckPoint = _checkPoint,
                WaitHint = (uint)waitHint.TotalMilliseconds,
            };
            if (Advapi32.SetServiceStatus(_statusHandle, &status) == 0)
            {
                _log?.Invoke($"SetServiceStatus({Scm.StateName(state)}) failed: Win32 error {Marshal.GetLastPInvokeError()}");
            }
        }
    }
}
