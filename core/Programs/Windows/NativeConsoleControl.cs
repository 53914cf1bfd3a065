using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Belay.Core.Programs.Windows;

/// <summary><see cref="IConsoleControlApi"/> on kernel32 and user32 (source-generated LibraryImports; the window enumeration
/// calls back through an unmanaged function pointer, which NativeAOT compiles ahead of time).</summary>
[SupportedOSPlatform("windows")]
public sealed unsafe partial class NativeConsoleControl : IConsoleControlApi
{
    private const uint CtrlBreakEvent = 1;
    private const uint GwOwner = 4;
    private const uint WmClose = 0x10;

    public int LastError { get; private set; }

    public bool FreeConsole() => Result(FreeConsoleNative());

    public bool AttachConsole(int pid) => Result(AttachConsoleNative((uint)pid));

    public bool IgnoreCtrlC() => Result(SetConsoleCtrlHandler(0, 1));

    public bool GenerateCtrlBreak(int processGroup) => Result(GenerateConsoleCtrlEvent(CtrlBreakEvent, (uint)processGroup));

    public IReadOnlyList<nint> MainWindows(int pid)
    {
        var search = new WindowSearch { Pid = (uint)pid, Found = new List<nint>() };
        var handle = GCHandle.Alloc(search);
        try
        {
            _ = EnumWindows(&OnWindow, GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }
        return search.Found;
    }

    public bool PostClose(nint window) => Result(PostMessage(window, WmClose, 0, 0));

    private bool Result(int ok)
    {
        if (ok == 0)
        {
            LastError = Marshal.GetLastPInvokeError();
        }
        return ok != 0;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvStdcall)])]
    private static int OnWindow(nint window, nint state)
    {
        var search = (WindowSearch)GCHandle.FromIntPtr(state).Target!;
        uint owner;
        _ = GetWindowThreadProcessId(window, &owner);
        if (owner == search.Pid && GetWindow(window, GwOwner) == 0)
        {
            search.Found.Add(window);
        }
        return 1;
    }

    private sealed class WindowSearch
    {
        public uint Pid { get; init; }
        public required List<nint> Found { get; init; }
    }

    [LibraryImport("kernel32.dll", EntryPoint = "FreeConsole", SetLastError = true)]
    private static partial int FreeConsoleNative();

    [LibraryImport("kernel32.dll", EntryPoint = "AttachConsole", SetLastError = true)]
    private static partial int AttachConsoleNative(uint pid);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial int SetConsoleCtrlHandler(nint handler, int add);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial int GenerateConsoleCtrlEvent(uint ctrlEvent, uint processGroup);

    [LibraryImport("user32.dll", SetLastError = true)]
    private static partial int EnumWindows(delegate* unmanaged[Stdcall]<nint, nint, int> callback, nint state);

    [LibraryImport("user32.dll")]
    private static partial uint GetWindowThreadProcessId(nint window, uint* pid);

    [LibraryImport("user32.dll")]
    private static partial nint GetWindow(nint window, uint command);

    [LibraryImport("user32.dll", EntryPoint = "PostMessageW", SetLastError = true)]
    private static partial int PostMessage(nint window, uint message, nint wParam, nint lParam);
}
