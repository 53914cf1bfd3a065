using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Belay.Core;
using Belay.Core.Deploy;
using Belay.Core.Install;
using Belay.Core.Programs;

namespace Belay.Bootstrapper.Commands;

/// <summary>
/// `belay apps [--json]`: the deployed apps, desired against running, the step in progress, the
/// bad versions and each app's last deploy (result, step, exit code, duration, reason, the last
/// 4 KiB of its output). `belay apps history APP [--json]`: every deploy the app's journal keeps.
/// The agent answers over its control socket; when it does not, the journals on disk do.
/// </summary>
internal static class AppsCommand
{
    public static Command Create()
    {
        var installation = new Installation();
        var json = new Option<bool>("--json") { Description = "Print JSON (stable keys, for automation)." };
        var command = new Command("apps", "Show the deployed apps: desired and running versions, state, step, bad versions, last deploy.") { json };
        installation.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            var (config, _) = installation.Locate(result);
            var report = await AppsStatus.ReadAsync(config, cancel).ConfigureAwait(false);
            if (result.GetValue(json))
            {
                Console.WriteLine(report.ToJson());
            }
            else
            {
                AppsStatus.PrintDetailed(report);
            }
            return ExitCodes.Ok;
        });

        var historyInstallation = new Installation();
        var app = new Argument<string>("APP") { Description = "The app." };
        var historyJson = new Option<bool>("--json") { Description = "Print JSON." };
        var history = new Command("history", "Every deploy of APP the agent keeps (the last 20): when, what, how it ended, where, why, its output.") { app, historyJson };
        historyInstallation.AddTo(history);
        history.SetAction((result, _) =>
        {
            var (config, _) = historyInstallation.Locate(result);
            var name = result.GetRequiredValue(app);
            var paths = AppPaths.For(config.Layout);
            var journal = AppJournalStore.TryLoad(paths.Journal(name))
                ?? throw new BelayException($"no app '{name}' on this host (belay apps lists them; its journal would be {paths.Journal(name)})");
            if (result.GetValue(historyJson))
            {
                Console.WriteLine(JsonSerializer.Serialize([.. journal.History], AppsJsonContext.Default.ListDeployReport));
                return Task.FromResult(ExitCodes.Ok);
            }
            if (journal.History.Count == 0)
            {
                Console.WriteLine($"{name}: no deploy yet");
            }
            foreach (var r in journal.History.Reverse())
            {
                AppsStatus.PrintReport(r, "");
            }
            return Task.FromResult(ExitCodes.Ok);
        });
        command.Subcommands.Add(history);
        return command;
    }
}

/// <summary>The apps part of `belay status` and `belay apps`.</summary>
internal static class AppsStatus
{
    public static async Task<AppsReport> ReadAsync(InstallConfig config, CancellationToken cancellationToken)
    {
        var layout = config.Layout;
        var programs = ProgramPaths.For(layout);
        if (Belay.Core.Install.KeeperChannel.Exists(programs.AgentSocket))
        {
            try
            {
                var reply = await AgentClient.SendAsync(programs, "APPS", TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                if (reply.StartsWith('{') && AppsReport.TryParse(reply) is { } live)
                {
                    return live;
                }
            }
            catch (BelayException)
            {
                // The journals below.
            }
        }
        return AppsReport.FromDisk(AppPaths.For(layout), config.Group, AgentStatus.TryLoad(layout.AgentStatusFile)?.GroupCheck);
    }

    /// <summary>Two lines in `belay status`: the group, then one line per app.</summary>
    public static void PrintSummary(AppsReport report)
    {
        Console.WriteLine($"group:            {report.Group}{Check(report.GroupCheck)}");
        if (report.Apps.Count == 0)
        {
            Console.WriteLine("apps:             -");
            return;
        }
        Console.WriteLine("apps:");
        foreach (var a in report.Apps)
        {
            Console.WriteLine($"  {a.Name,-16} {a.State,-10} desired {a.Desired ?? a.DesiredState ?? "-",-10} running {a.Running ?? "-",-10}"
                + (a.Step is { } s ? $" step {s}" : "")
                + (a.Bad.Count > 0 ? $" bad {string.Join(",", a.Bad)}" : "")
                + (a.LastDeploy is { } d ? $" last {d.Result} {d.Version}{(d.Result == "ok" ? "" : $" at {d.Step}")}" : ""));
        }
    }

    public static void PrintDetailed(AppsReport report)
    {
        Console.WriteLine($"group {report.Group}{Check(report.GroupCheck)}");
        if (report.Apps.Count == 0)
        {
            Console.WriteLine("no apps deployed to this host");
            return;
        }
        foreach (var a in report.Apps)
        {
            Console.WriteLine();
            Console.WriteLine($"{a.Name}: {a.State}");
            Console.WriteLine($"  desired:  {(a.Desired is { } v ? $"{v} {a.DesiredState}" : a.DesiredState ?? "-")}{(a.Waiting ? " (the rollout does not admit this host yet)" : "")}");
            Console.WriteLine($"  running:  {a.Running ?? "-"}{(a.Pid is { } pid ? $" (pid {pid}, restarts {a.Restarts})" : "")}");
            Console.WriteLine($"  releases: current {a.Current ?? "-"}, previous {a.Previous ?? "-"}");
            if (a.Step is { } step)
            {
                Console.WriteLine($"  step:     {step}");
            }
            Console.WriteLine($"  bad:      {(a.Bad.Count == 0 ? "-" : string.Join(", ", a.Bad))}");
            if (a.RetryAt is { } at)
            {
                Console.WriteLine($"  retry:    {Stamp(at)}");
            }
            if (a.Error is { } error)
            {
                Console.WriteLine($"  error:    {error}");
            }
            if (a.LastDeploy is { } last)
            {
                PrintReport(new DeployReport
                {
                    At = last.At,
                    FinishedAt = last.FinishedAt,
                    Kind = last.Kind,
                    Version = last.Version,
                    From = last.From,
                    Result = last.Result,
                    Step = last.Step,
                    ExitCode = last.ExitCode,
                    DurationSeconds = last.DurationSeconds,
                    Output = last.Output,
                    Reason = last.Reason,
                }, "  last deploy: ");
            }
        }
    }

    /// <summary>One deploy: a heading, its reason, and its output indented.</summary>
    public static void PrintReport(DeployReport r, string prefix)
    {
        var exit = r.ExitCode is { } code ? code.ToString(CultureInfo.InvariantCulture) : "-";
        Console.WriteLine($"{prefix}{Stamp(r.At)} {r.Kind} {r.Version}{(r.From is { } f && f != r.Version ? $" over {f}" : "")}: {r.Result}"
            + (r.Result == "ok" ? "" : $" at {r.Step}, exit code {exit}")
            + $", {r.DurationSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s");
        var indent = new string(' ', prefix.Length > 0 ? 4 : 2);
        if (r.Reason is { } reason)
        {
            Console.WriteLine($"{indent}reason: {reason}");
        }
        if (r.Output.Length > 0)
        {
            Console.WriteLine($"{indent}output (last 4 KiB):");
            foreach (var line in r.Output.TrimEnd('\n').Split('\n'))
            {
                Console.WriteLine($"{indent}  | {line}");
            }
        }
    }

    private static string Check(GroupCheck? c) =>
        c is null ? " (not checked yet)" : $" (sequence {c.Sequence}; checked {Stamp(c.At)}: {c.Result}{(c.Error is null ? "" : $": {c.Error}")})";

    private static string Stamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
