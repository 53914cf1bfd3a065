using Belay.Core.Programs.Windows;

namespace Belay.Core.Deploy;

/// <summary>The hook runner of the system the agent runs on: <see cref="WindowsHookRunner"/> on Windows, <see cref="HookRunner"/> (the exec helper) elsewhere.</summary>
public static class HookRunners
{
    public static IHookRunner ForThisSystem(string agentExe, IDeployLog log, TimeProvider clock) =>
        OperatingSystem.IsWindows()
            ? new WindowsHookRunner(NativeWindowsProcessApi.Instance, NativeHookIo.Instance, log, clock)
            : new HookRunner(agentExe, log, clock);
}
