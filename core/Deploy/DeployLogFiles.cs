using System.Globalization;
using System.Text;
using Belay.Core.Programs;

namespace Belay.Core.Deploy;

/// <summary>
/// The deploy logs, logs/apps/&lt;app&gt;.deploy.log (rotated at 10 MB, 3 kept): every step the
/// runner takes, stamped, and every hook's output as it comes (secrets already redacted).
/// `belay logs APP --deploy` shows it. The runner's own lines also go to the agent's log.
/// </summary>
public sealed class DeployLogFiles(AppPaths paths, Action<string, string, bool> agentLog, TimeProvider clock) : IDeployLog, IDisposable
{
    private const long MaxBytes = 10 * 1024 * 1024;
    private const int Backups = 3;
    private readonly Dictionary<string, RotatingLog> _logs = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public void Write(string app, string message, bool warning)
    {
        agentLog(app, message, warning);
        var stamp = clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        Append(app, $"{stamp} {(warning ? "WRN" : "INF")} {message}\n");
    }

    public void Output(string app, string text) => Append(app, text);

    private void Append(string app, string text)
    {
        try
        {
            lock (_lock)
            {
                if (!_logs.TryGetValue(app, out var log))
                {
                    Directory.CreateDirectory(paths.LogDir);
                    log = new RotatingLog(paths.DeployLog(app), MaxBytes, Backups);
                    _logs[app] = log;
                }
                log.Write(Encoding.UTF8.GetBytes(text));
                log.FlushPending();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            agentLog(app, $"cannot write {paths.DeployLog(app)}: {e.Message}", true);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var log in _logs.Values)
            {
                log.Dispose();
            }
            _logs.Clear();
        }
    }
}
