using Belay.Core.Install;
using Belay.Core.IO;

namespace Belay.Core.Programs;

/// <summary>The CLI's side of the agent's control channel (state/agent.sock; see the agent's AgentControl).</summary>
public static class AgentClient
{
    public static async Task<string> SendAsync(ProgramPaths paths, string request, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(paths);
        try
        {
            return await KeeperChannel.SendAsync(paths.AgentSocket, request, timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (BelayException e)
        {
            throw new BelayException($"cannot reach the agent at {paths.AgentSocket} ({(e.InnerException is { } inner ? SystemErrors.Describe(inner) : e.Message)}); is Belay running? (belay status)", e);
        }
    }
}
