using Belay.Core.Hub;
using Belay.Hub.Logs;
using Belay.Hub.Storage;
using ILogger = Serilog.ILogger;

namespace Belay.Hub.Agents;

/// <summary>
/// The hub's clockwork, one loop: twice a second it reads the store's revision and, when it
/// moved (a host, user, session or token was revoked, here or by <c>belay-hub hosts revoke</c> in
/// another process), cuts what was revoked: the host's connection with close code 4001, the
/// operator's live tails; once a second it sweeps the tails; every two seconds it writes the
/// states that came in.
/// </summary>
internal sealed class Housekeeping
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(500);

    private readonly IHubStore _store;
    private readonly AgentRegistry _agents;
    private readonly TailSessions _tails;
    private readonly StateWriter _states;
    private readonly Func<string, CancellationToken, Task<bool>> _operatorStillValid;
    private readonly ILogger _log;
    private readonly TimeProvider _clock;

    public Housekeeping(IHubStore store, AgentRegistry agents, TailSessions tails, StateWriter states, Func<string, CancellationToken, Task<bool>> operatorStillValid,
        ILogger log, TimeProvider clock)
    {
        _store = store;
        _agents = agents;
        _tails = tails;
        _states = states;
        _operatorStillValid = operatorStillValid;
        _log = log;
        _clock = clock;
    }

    public async Task RunAsync(CancellationToken stop)
    {
        long? revision = null;
        var ticks = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var now = await _store.RevisionAsync(stop).ConfigureAwait(false);
                if (revision is not null && now != revision)
                {
                    await CutRevokedAsync(stop).ConfigureAwait(false);
                }
                revision = now;
                if (ticks % 2 == 0)
                {
                    _tails.Sweep();
                }
                if (ticks % 4 == 0)
                {
                    await _states.FlushAsync(stop).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Core.BelayException e)
            {
                _log.Error("hub housekeeping: {Error}", e.Message);
            }
            catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException or IOException or TimeoutException)
            {
                _log.Error("hub housekeeping: the database: {Error}", e.Message);
            }
            ticks++;
            try
            {
                await Task.Delay(Tick, _clock, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        try
        {
            await _states.FlushAsync(CancellationToken.None, final: true).ConfigureAwait(false);
        }
        catch (Exception e) when (e is Core.BelayException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException or IOException or TimeoutException)
        {
            _log.Error("hub housekeeping: the last states were not written: {Error}", e.Message);
        }
    }

    private async Task CutRevokedAsync(CancellationToken stop)
    {
        foreach (var hostId in await _store.RevokedAmongAsync(_agents.HostIds, stop).ConfigureAwait(false))
        {
            if (_agents.Find(hostId) is { } connection)
            {
                _log.Warning("host {Host} was revoked: closing its connection", hostId);
                connection.Close(HubCloseCodes.Revoked, "this host was revoked");
            }
        }
        foreach (var session in _tails.All.Where(s => !s.Ended).ToList())
        {
            if (!await _operatorStillValid(session.CredentialHash, stop).ConfigureAwait(false))
            {
                _tails.Close(session, "the operator's session or token was revoked");
            }
        }
    }
}
