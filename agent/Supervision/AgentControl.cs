using System.Text.Json;
using Belay.Core.Programs;

namespace Belay.Agent.Supervision;

/// <summary>
/// The agent's control channel, state/agent.sock (the same one-line protocol as the
/// keeper's socket, mode 0700 in the 0700 state folder): STATUS (a JSON list of programs,
/// secrets masked), CHECK (the agent's own status, as agent.json holds it, live: the file
/// cannot be written while the disk is full), APPS (the deployed apps, JSON), START name,
/// STOP name, RESTART name, RELOAD (re-read programs.conf; a config with an error is refused
/// and the running one stays). `belay status`, `belay apps`, `belay start|stop|restart|reload` use it.
/// </summary>
internal sealed class AgentControl(Supervisor supervisor, Func<Task<string>> reload, Func<string> check)
{
    /// <summary>HANDOVER and SHUTDOWN (the keeper on Windows, which has no SIGUSR2 or SIGTERM to send): end the agent,
    /// leaving the programs running for the next one or stopping them.</summary>
    public Action<bool>? End { get; set; }

    /// <summary>APPS: the deployed apps as JSON (set once deployments run).</summary>
    public Func<Task<string>>? Apps { get; set; }

    public async Task<string> HandleAsync(string request)
    {
        var parts = request.Split(' ', 2, StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var verb = parts.Length > 0 ? parts[0] : "";
        var name = parts.Length > 1 ? parts[1] : "";
        switch (verb)
        {
            case "STATUS":
                return JsonSerializer.Serialize(await supervisor.StatusAsync().ConfigureAwait(false), ProgramsJsonContext.Default.ListProgramStatus);
            case "CHECK":
                return check();
            case "HANDOVER" or "SHUTDOWN" when End is { } end:
                end(verb == "HANDOVER");
                return verb == "HANDOVER" ? "OK handing the programs over" : "OK stopping the programs";
            case "RELOAD":
                return await reload().ConfigureAwait(false);
            case "APPS":
                return Apps is { } apps ? await apps().ConfigureAwait(false) : "ERR deployments are not running";
            case "START" when name.Length > 0:
                return await supervisor.StartProgramAsync(name).ConfigureAwait(false);
            case "STOP" when name.Length > 0:
                return await supervisor.StopProgramAsync(name).ConfigureAwait(false);
            case "RESTART" when name.Length > 0:
                return await supervisor.RestartProgramAsync(name).ConfigureAwait(false);
            default:
                return $"ERR unknown request '{request}' (STATUS, CHECK, APPS, RELOAD, START name, STOP name, RESTART name)";
        }
    }
}
