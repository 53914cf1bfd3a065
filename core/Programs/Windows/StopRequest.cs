using System.ComponentModel;

namespace Belay.Core.Programs.Windows;

/// <summary>
/// The calls that ask a Windows program to stop, one method per Win32 call (the native one is
/// <see cref="NativeConsoleControl"/>; tests use a fake). BOOL results are returned as bools and
/// the error of the last failed call is <see cref="LastError"/>.
/// </summary>
public interface IConsoleControlApi
{
    /// <summary>FreeConsole.</summary>
    bool FreeConsole();

    /// <summary>AttachConsole(pid).</summary>
    bool AttachConsole(int pid);

    /// <summary>SetConsoleCtrlHandler(NULL, TRUE): this process ignores CTRL_C (it is not in the target group anyway).</summary>
    bool IgnoreCtrlC();

    /// <summary>GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, group).</summary>
    bool GenerateCtrlBreak(int processGroup);

    /// <summary>EnumWindows, GetWindowThreadProcessId, GetWindow(GW_OWNER): the top-level windows of <paramref name="pid"/> that no other window owns.</summary>
    IReadOnlyList<nint> MainWindows(int pid);

    /// <summary>PostMessageW(window, WM_CLOSE, 0, 0).</summary>
    bool PostClose(nint window);

    int LastError { get; }
}

/// <summary>How a stop request went: CTRL_BREAK sent to the program's group, WM_CLOSE posted to its windows, or neither (and why).</summary>
public enum StopDelivery
{
    CtrlBreak = 0,
    WindowClose = 3,
    NotDelivered = 1,
}

/// <summary>
/// The graceful stop of a Windows program, which has no signals: CTRL_BREAK to its console's process
/// group (the program was started in a new process group, its pid is the group's id, and a console of
/// its own), or, for a GUI program without a console, WM_CLOSE to its main windows. Sending a console
/// event needs the sender attached to the target's console, and a process has one console at most, so
/// the agent runs this in a short-lived helper (<c>belay-agent stop-request PID</c>) rather than trade
/// its own console back and forth: FreeConsole, AttachConsole(pid), ignore CTRL_C, CTRL_BREAK to the
/// group. When neither can be delivered (a program with neither a console nor a window, or a system
/// that does not pass console events on: Wine 8 answers GenerateConsoleCtrlEvent with an error), the
/// supervisor ends the program's job at once instead of waiting stop_timeout for nothing.
/// </summary>
public static class StopRequest
{
    public static (StopDelivery Delivery, string Detail) Deliver(IConsoleControlApi api, int pid)
    {
        ArgumentNullException.ThrowIfNull(api);
        _ = api.FreeConsole();
        string why;
        if (api.AttachConsole(pid))
        {
            _ = api.IgnoreCtrlC();
            var sent = api.GenerateCtrlBreak(pid);
            var error = api.LastError;
            _ = api.FreeConsole();
            if (sent)
            {
                return (StopDelivery.CtrlBreak, $"CTRL_BREAK sent to process group {pid}");
            }
            why = $"GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, {pid}) failed: {Describe(error)}";
        }
        else
        {
            why = $"AttachConsole({pid}) failed: {Describe(api.LastError)} (no console)";
        }
        var windows = api.MainWindows(pid);
        var closed = windows.Count(api.PostClose);
        if (closed > 0)
        {
            return (StopDelivery.WindowClose, $"WM_CLOSE posted to {closed} window(s) of pid {pid}");
        }
        return (StopDelivery.NotDelivered, windows.Count == 0 ? $"{why}; and it has no window to close" : $"{why}; and WM_CLOSE could not be posted: {Describe(api.LastError)}");
    }

    private static string Describe(int error) => $"{new Win32Exception(error).Message} (Windows error {error})";
}
