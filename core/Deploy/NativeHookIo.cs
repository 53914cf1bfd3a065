using System.Runtime.Versioning;
using Belay.Core.Programs.Windows;
using Microsoft.Win32.SafeHandles;

namespace Belay.Core.Deploy;

/// <summary>The waits and reads of <see cref="WindowsHookRunner"/> on Windows: a registered wait on the process handle, and an
/// <see cref="OverlappedPipeReader"/> on a background thread (as the supervisor reads its programs' pipes).</summary>
[SupportedOSPlatform("windows")]
public sealed class NativeHookIo : IHookProcessIo
{
    public static readonly NativeHookIo Instance = new();

    private NativeHookIo()
    {
    }

    public async Task WaitForExitAsync(nint process)
    {
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var handle = new ProcessWaitHandle(process);
        var registration = ThreadPool.RegisterWaitForSingleObject(handle, (_, _) => exited.TrySetResult(), null, Timeout.Infinite, executeOnlyOnce: true);
        try
        {
            await exited.Task.ConfigureAwait(false);
        }
        finally
        {
            registration.Unregister(null);
        }
    }

    public HookPipeReading Read(nint pipe, HookData onData)
    {
        ArgumentNullException.ThrowIfNull(onData);
        var reader = new OverlappedPipeReader(pipe);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                reader.Run(data => onData(data));
            }
            catch (WindowsCallException)
            {
                // A read that fails ends the output as the hook's end would.
            }
            finally
            {
                done.TrySetResult();
            }
        })
        { IsBackground = true, Name = "hook output" };
        thread.Start();
        return new HookPipeReading(done.Task, reader.Stop);
    }

    private sealed class ProcessWaitHandle : WaitHandle
    {
        public ProcessWaitHandle(nint process) => SafeWaitHandle = new SafeWaitHandle(process, ownsHandle: false);
    }
}
