using Belay.Core.Programs;
using Belay.TestSupport;

namespace Belay.Core.Tests.Programs;

/// <summary>
/// One agent at a time (AgentLock): a new agent waits while an earlier one (a dead keeper's, handing over) still
/// holds agent.lock, and ends it once it has waited as long as a keeper waits for a handover.
/// </summary>
public sealed class AgentLockTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AFreeLockIsTakenAtOnceAndNamesThisProcess()
    {
        using var dir = new TempDir();
        var lines = new List<string>();
        using (var held = await AgentLock.AcquireAsync(dir.Combine("agent.lock"), dir.Combine("agent.pid"), Long, (_, _) => false, lines.Add, TimeProvider.System,
            TestContext.Current.CancellationToken))
        {
            Assert.Equal(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(dir.Combine("agent.pid")).Split(' ')[0]);
            Assert.Empty(lines);
        }
        // Released with the holder: the next one takes it at once too.
        using var again = await AgentLock.AcquireAsync(dir.Combine("agent.lock"), dir.Combine("agent.pid"), Long, (_, _) => false, lines.Add, TimeProvider.System,
            TestContext.Current.CancellationToken);
        Assert.Empty(lines);
    }

    [Fact]
    public async Task TheNextAgentWaitsUntilTheOneBeforeHasEnded()
    {
        using var dir = new TempDir();
        var lines = new List<string>();
        var earlier = await AgentLock.AcquireAsync(dir.Combine("agent.lock"), dir.Combine("agent.pid"), Long, (_, _) => false, lines.Add, TimeProvider.System,
            TestContext.Current.CancellationToken);
        var ended = 0;
        var next = AgentLock.AcquireAsync(dir.Combine("agent.lock"), dir.Combine("agent.pid"), Long, (_, _) => ++ended > 0, lines.Add, TimeProvider.System,
            TestContext.Current.CancellationToken);
        await Task.Delay(TimeSpan.FromMilliseconds(300), TestContext.Current.CancellationToken);
        Assert.False(next.IsCompleted, "the next agent took the lock while the earlier one held it");
        Assert.Contains(lines, l => l.Contains($"another agent (pid {Environment.ProcessId}) still runs", StringComparison.Ordinal));

        earlier.Dispose(); // the earlier agent exits
        using var taken = await next.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(0, ended);
        Assert.Contains(lines, l => l.Contains("has ended", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AnAgentThatDoesNotEndInTimeIsEndedByTheNextOnceThenWaitedFor()
    {
        using var dir = new TempDir();
        var lines = new List<string>();
        var earlier = await AgentLock.AcquireAsync(dir.Combine("agent.lock"), dir.Combine("agent.pid"), Long, (_, _) => false, lines.Add, TimeProvider.System,
            TestContext.Current.CancellationToken);
        // Another process's record, as a hung agent would have left it.
        File.WriteAllText(dir.Combine("agent.pid"), "4242 777\n");
        var asked = new List<(int, long)>();
        var next = AgentLock.AcquireAsync(dir.Combine("agent.lock"), dir.Combine("agent.pid"), TimeSpan.FromMilliseconds(200), (pid, start) =>
        {
            asked.Add((pid, start));
            earlier.Dispose(); // killed: the kernel lets go of its lock
            return true;
        }, lines.Add, TimeProvider.System, TestContext.Current.CancellationToken);
        using var taken = await next.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal([(4242, 777L)], asked);
        Assert.Contains(lines, l => l.Contains("(pid 4242) did not end within", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WaitingEndsWhenTheAgentIsAskedToStop()
    {
        using var dir = new TempDir();
        using var earlier = await AgentLock.AcquireAsync(dir.Combine("agent.lock"), dir.Combine("agent.pid"), Long, (_, _) => false, _ => { }, TimeProvider.System,
            TestContext.Current.CancellationToken);
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            AgentLock.AcquireAsync(dir.Combine("agent.lock"), dir.Combine("agent.pid"), Long, (_, _) => false, _ => { }, TimeProvider.System, stop.Token));
    }
}
