namespace Belay.Agent.Supervision;

/// <summary>The running supervisor and its control channel, ended together.</summary>
internal sealed class Supervision(Supervisor supervisor, Task channel, CancellationTokenSource serving, AgentControl control) : IDisposable
{
    public Supervisor Supervisor => supervisor;

    /// <summary>The control channel's handler (deployments add the APPS request to it).</summary>
    public AgentControl Control => control;

    /// <summary>Stops every program, or (<paramref name="handOver"/>) leaves them running for the next agent.</summary>
    public async Task EndAsync(bool handOver)
    {
        if (handOver)
        {
            await supervisor.HandOverAsync().ConfigureAwait(false);
        }
        else
        {
            await supervisor.StopAllAsync().ConfigureAwait(false);
        }
        await serving.CancelAsync().ConfigureAwait(false);
        await channel.ConfigureAwait(false);
    }

    public void Dispose()
    {
        supervisor.Dispose();
        serving.Dispose();
    }
}
