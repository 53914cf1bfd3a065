using Belay.Core.Programs.Windows;

namespace Belay.Core.Tests.Programs.Windows;

/// <summary>How a graceful stop reaches a Windows program: CTRL_BREAK to its console's group, else WM_CLOSE to its windows, else nothing (and why).</summary>
public sealed class StopRequestTests
{
    [Fact]
    public void A_console_program_gets_ctrl_break_from_a_helper_attached_to_its_console()
    {
        var api = new FakeConsole { Attachable = true, BreakWorks = true };
        var (delivery, detail) = StopRequest.Deliver(api, 4242);
        Assert.Equal(StopDelivery.CtrlBreak, delivery);
        Assert.Equal("CTRL_BREAK sent to process group 4242", detail);
        Assert.Equal(["FreeConsole", "AttachConsole 4242", "IgnoreCtrlC", "GenerateCtrlBreak 4242", "FreeConsole"], api.Calls);
    }

    [Fact]
    public void A_gui_program_without_a_console_gets_wm_close_on_its_main_windows()
    {
        var api = new FakeConsole { Windows = [11, 12] };
        var (delivery, detail) = StopRequest.Deliver(api, 4242);
        Assert.Equal(StopDelivery.WindowClose, delivery);
        Assert.Equal("WM_CLOSE posted to 2 window(s) of pid 4242", detail);
        Assert.Equal(["FreeConsole", "AttachConsole 4242", "MainWindows 4242", "PostClose 11", "PostClose 12"], api.Calls);
    }

    [Fact]
    public void Neither_a_console_nor_a_window_is_not_delivered_and_says_why()
    {
        var api = new FakeConsole { Attachable = true, BreakWorks = false };
        var (delivery, detail) = StopRequest.Deliver(api, 4242);
        Assert.Equal(StopDelivery.NotDelivered, delivery);
        Assert.Contains("GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, 4242) failed", detail, StringComparison.Ordinal);
        Assert.Contains("it has no window to close", detail, StringComparison.Ordinal);
    }

    private sealed class FakeConsole : IConsoleControlApi
    {
        public List<string> Calls { get; } = [];
        public bool Attachable { get; init; }
        public bool BreakWorks { get; init; }
        public List<nint> Windows { get; init; } = [];
        public int LastError { get; private set; }

        private bool Result(bool ok, int error = 6)
        {
            LastError = ok ? LastError : error;
            return ok;
        }

        public bool FreeConsole()
        {
            Calls.Add("FreeConsole");
            return true;
        }

        public bool AttachConsole(int pid)
        {
            Calls.Add($"AttachConsole {pid}");
            return Result(Attachable);
        }

        public bool IgnoreCtrlC()
        {
            Calls.Add("IgnoreCtrlC");
            return true;
        }

        public bool GenerateCtrlBreak(int processGroup)
        {
            Calls.Add($"GenerateCtrlBreak {processGroup}");
            return Result(BreakWorks, 87);
        }

        public IReadOnlyList<nint> MainWindows(int pid)
        {
            Calls.Add($"MainWindows {pid}");
            return Windows;
        }

        public bool PostClose(nint window)
        {
            Calls.Add($"PostClose {window}");
            return true;
        }
    }
}
