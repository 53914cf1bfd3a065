using System.Collections.Concurrent;
using System.Diagnostics;

namespace Belay.Keeper;

/// <summary>
/// Starts the agent from one thread that lives as long as the keeper. The agent asks Linux for SIGUSR2
/// when its parent dies (<c>PR_SET_PDEATHSIG</c>, so that a dead keeper's agent hands its programs over at
/// once), and to Linux the parent is the <em>thread</em> that forked it, not the process. The keeper's
/// event loop resumes on thread-pool workers, which retire after 20 s without work: every agent started
/// after the first (a restart, an update's switch, a rollback) got SIGUSR2 20-40 s later, handed its
/// programs over and exited 0, and the keeper started it again from another worker, with a growing backoff.
/// </summary>
internal sealed class SpawnThread
{
    private readonly BlockingCollection<(ProcessStartInfo Start, TaskCompletionSource<Process> Started)> _requests = [];

    public SpawnThread()
    {
        // Never ended: a background thread goes with the process, and so should the agent's parent.
        new Thread(Run) { IsBackground = true, Name = "agent spawner" }.Start();
    }

    /// <summary>Process.Start on the spawning thread; blocks until it returned (or threw, rethrown here).</summary>
    public Process Start(ProcessStartInfo start)
    {
        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        _requests.Add((start, started));
        return started.Task.GetAwaiter().GetResult();
    }

    private void Run()
    {
        foreach (var (start, started) in _requests.GetConsumingEnumerable())
        {
            try
            {
                started.SetResult(Process.Start(start) ?? throw new InvalidOperationException("no process"));
            }
            catch (Exception e)
            {
                started.SetException(e);
            }
        }
    }
}
