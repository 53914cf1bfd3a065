using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Belay.Core.Deploy;

/// <summary>
/// The health gate of a new release ([health] of belay-app.conf): the release passes once its
/// probe (http, tcp or command; none means the process staying up) has succeeded without a
/// break for healthy_for, probing every interval, each probe cut off at timeout; it fails when
/// deadline passes first, or at once when its process exits or is restarted during the gate.
/// </summary>
public sealed class HealthGate(IAppProcess process, IHookRunner hooks, TimeProvider clock)
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        PooledConnectionLifetime = TimeSpan.FromSeconds(30),
    })
    { Timeout = Timeout.InfiniteTimeSpan };

    public async Task<StepOutcome> RunAsync(ResolvedRelease release, string? previous, Action<string> log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(release);
        ArgumentNullException.ThrowIfNull(log);
        var check = release.Config.Health;
        var identity = release.Definition().Hash;
        var start = clock.GetUtcNow();
        var deadline = start + check.Deadline;
        var lines = new List<string>();
        int? pid = null;
        DateTimeOffset? healthySince = null;
        string? lastError = null;
        var probes = 0;
        void Note(string line)
        {
            lines.Add(line);
            if (lines.Count > 20)
            {
                lines.RemoveAt(0);
            }
            log(line);
        }
        Note($"health: waiting for {check.Describe()} to pass for {Seconds(check.HealthyFor)} within {Seconds(check.Deadline)}");
        while (true)
        {
            var info = await process.StatusAsync(release.App).ConfigureAwait(false);
            if (info is null || info.Identity != identity || info.Status.State is not ("starting" or "running") || (pid is not null && info.Status.Pid != pid))
            {
                var exit = info?.Status.LastExit ?? "not running";
                Note($"health: {release.App} {release.Version} is no longer running ({exit})");
                return StepOutcome.Failed($"health: {release.App} {release.Version} exited during the health gate: {exit}",
                    DeployStepRunner.ExitCodeOf(exit), Output(lines));
            }
            pid ??= info.Status.Pid;
            var error = await ProbeAsync(release, previous, cancellationToken).ConfigureAwait(false);
            probes++;
            var now = clock.GetUtcNow();
            if (error is null)
            {
                if (healthySince is null || lastError is not null)
                {
                    Note($"health: {check.Describe()} passed (probe {probes})");
                }
                healthySince ??= now;
                lastError = null;
                if (now - healthySince >= check.HealthyFor)
                {
                    Note($"health: healthy for {Seconds(now - healthySince.Value)} after {Seconds(now - start)}");
                    return new StepOutcome { ExitCode = 0, Output = Output(lines) };
                }
            }
            else
            {
                if (error != lastError)
                {
                    Note($"health: {error} (probe {probes})");
                }
                healthySince = null;
                lastError = error;
            }
            if (now >= deadline)
            {
                var why = lastError ?? $"healthy for only {Seconds(now - (healthySince ?? now))}";
                Note($"health: deadline of {Seconds(check.Deadline)} passed");
                return StepOutcome.Failed($"health: {check.Describe()} was not healthy for {Seconds(check.HealthyFor)} within {Seconds(check.Deadline)}: {why}",
                    null, Output(lines));
            }
            var wait = check.Interval;
            if (now + wait > deadline)
            {
                wait = deadline - now;
            }
            await Task.Delay(wait, clock, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One probe: null when healthy, else what was wrong.</summary>
    private async Task<string?> ProbeAsync(ResolvedRelease release, string? previous, CancellationToken cancellationToken)
    {
        var check = release.Config.Health;
        var plain = release.Environment.Where(e => !release.SecretKeys.Contains(e.Key)).GroupBy(e => e.Key).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);
        var target = AppConfig.Expand(check.Target, plain);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(check.Timeout);
        try
        {
            switch (check.Kind)
            {
                case HealthKind.Http:
                    {
                        using var response = await Http.GetAsync(new Uri(target), HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                        var code = (int)response.StatusCode;
                        return code is >= 200 and < 300 ? null : $"{target} answered {code} {response.ReasonPhrase}";
                    }
                case HealthKind.Tcp:
                    {
                        if (!AppConfig.TrySplitEndpoint(target, out var host, out var port))
                        {
                            return $"tcp {target} is not HOST:PORT (is the variable it names set?)";
                        }
                        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                        await socket.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
                        return null;
                    }
                case HealthKind.Command:
                    {
                        var result = await hooks.RunAsync(release.HealthCommand(previous), null, cancellationToken).ConfigureAwait(false);
                        if (result.Succeeded)
                        {
                            return null;
                        }
                        var last = result.Output.TrimEnd('\n').Split('\n')[^1];
                        return (result.TimedOut ? $"the health command did not finish within {Seconds(check.Timeout)}" : $"the health command exited with code {result.ExitCode}")
                            + (last.Length > 0 ? $": {last}" : "");
                    }
                default:
                    return null;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"{target} did not answer within {Seconds(check.Timeout)}";
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or IOException or UriFormatException)
        {
            return $"{(check.Kind == HealthKind.Command ? "the health command" : target)}: {e.Message}";
        }
    }

    private static string Output(List<string> lines)
    {
        var text = new StringBuilder();
        foreach (var line in lines)
        {
            text.Append(line).Append('\n');
        }
        return OutputTail.Keep(text.ToString());
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
}
