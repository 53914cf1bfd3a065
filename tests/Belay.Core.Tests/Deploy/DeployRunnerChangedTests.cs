using System.Collections.Concurrent;
using Belay.Core.Deploy;
using Belay.Core.Tests.Crash;

namespace Belay.Core.Tests.Deploy;

/// <summary>
/// The runner says when an app's journal changed (<see cref="DeployRunner.Changed"/>), which is
/// what makes the agent send its hub a state during a deploy: every step, the commit, a failure
/// and its rollback are announced as they happen, each seen by the callback as the journal now
/// stands, and an app that is left alone announces nothing.
/// </summary>
public sealed class DeployRunnerChangedTests
{
    [Fact]
    public async Task EveryStepTheCommitAndARollbackAreAnnouncedAsTheyHappenAndNothingWhileTheAppIsLeftAlone()
    {
        var ct = TestContext.Current.CancellationToken;
        using var scenario = new DeployCrashScenario();
        var seen = new ConcurrentQueue<string>();
        DeployRunner? runner = null;
        void Changed()
        {
            // Called on the app's worker right after its journal changed: what it reads is that journal.
            var journal = runner!.Journals().Single();
            seen.Enqueue(journal.Deploy is { } d ? $"{LifecycleNames.Of(d.Step)} {d.Version}" : $"{journal.Describe()} {(journal.History.Count == 0 ? null : journal.History[^1].Result)}");
        }
        await using (runner = scenario.NewRunner(Changed))
        {
            runner.Start();
            await scenario.ConvergeAsync(runner, DeployCrashScenario.Target("1.0.0"), j => j.Current == "1.0.0", ct);
            var install = seen.ToArray();
            seen.Clear();
            // Steps in order (a step may be announced more than once: its journal changes as it starts and ends), then converged.
            Assert.Equal(["precheck 1.0.0", "fetch 1.0.0", "pre_install 1.0.0", "unpack 1.0.0", "post_install 1.0.0", "pre_start 1.0.0", "exec 1.0.0",
                "post_start 1.0.0", "health 1.0.0", "converged ok"], install.Distinct());
            Assert.Equal("converged ok", install[^1]);

            // 1.2.0's post_start fails: the failure, the restore of 1.0.0 and the end are announced.
            await scenario.ConvergeAsync(runner, DeployCrashScenario.Target("1.2.0"),
                j => j.History.Count > 0 && j.History[^1] is { Version: "1.2.0", Result: "rolled-back" }, ct);
            var rollback = seen.ToArray();
            seen.Clear();
            Assert.Contains("post_start 1.2.0", rollback);
            Assert.Contains(rollback, s => s.StartsWith("restore ", StringComparison.Ordinal));
            Assert.Equal("failed rolled-back", rollback[^1]);

            // Left alone, nothing is announced.
            await Task.Delay(200, ct);
            Assert.Empty(seen);
        }
    }
}
