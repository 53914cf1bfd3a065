using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Bootstrapper.Install;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Feed;
using Belay.Core.Install;
using Belay.Core.Update;

namespace Belay.Bootstrapper.Commands;

/// <summary>`belay update [--check] [--version V]` and `belay rollback`: the operator's hand on the keeper.</summary>
internal static class UpdateCommands
{
    public static Command Update()
    {
        var installation = new Installation();
        var checkOnly = new Option<bool>("--check") { Description = $"Only say whether a newer version is available: exit 0 when up to date, {ExitCodes.UpdateAvailable} when there is one." };
        var json = new Option<bool>("--json") { Description = "With --check: print the answer as JSON (current, available, updateAvailable, channel, sequence)." };
        var version = new Option<string?>("--version") { Description = "Update to this version (it must be newer than the current one)." }.SemanticVersion();
        var wait = new Option<string>("--wait") { Description = "How long to wait for the switch and its trial, like 120s.", DefaultValueFactory = _ => "120s" }.Duration();
        var command = new Command("update", "Check the feed now and switch to a newer version (with a trial, like the agent does).") { checkOnly, json, version, wait };
        installation.AddTo(command);
        command.Validators.Add(result =>
        {
            if (result.GetValue(json) && !result.GetValue(checkOnly))
            {
                result.AddError("--json goes with --check (an update itself prints its steps)");
            }
        });
        command.SetAction(async (result, cancel) =>
        {
            var (config, _) = installation.Locate(result);
            var layout = config.Layout;
            var timeout = Durations.Parse(result.GetRequiredValue(wait));
            // One install or update at a time (a check alone changes nothing and needs no lock).
            using var installLock = result.GetValue(checkOnly) ? null : InstallLock.Acquire(layout, "update");
            var state = InstallStateStore.Load(layout.StateFile);
            var agent = AgentStatus.TryLoad(layout.AgentStatusFile) ?? new AgentStatus();
            var rid = RuntimeInformation.RuntimeIdentifier;
            var hostId = HostId.Load(layout.HostIdFile);
            using var client = new FeedClient(config.Feeds, config.ParseRootKeys(), config.Product, config.Channel, config.AllowInsecureHttp, trustFile: layout.TrustFile);
            var check = await client.CheckAsync(agent.Sequence, null, cancel).ConfigureAwait(false);
            var pinned = result.GetValue(version) ?? config.PinnedVersion;
            var release = UpdatePolicy.ChooseUpdate(check.Manifest!, rid, hostId, state.Current, state.Bad, pinned);
            var notAnUpdate = release is null && pinned is not null && pinned != state.Current
                ? $"version {pinned} is not an update for this host (current {state.Current}; bad: {(state.Bad.Count == 0 ? "none" : string.Join(", ", state.Bad))})"
                : null;
            if (result.GetValue(checkOnly))
            {
                var answer = new UpdateCheck
                {
                    Current = state.Current,
                    Available = release?.Version,
                    UpdateAvailable = release is not null,
                    Channel = config.Channel,
                    Sequence = check.Manifest!.Sequence,
                    Problem = notAnUpdate,
                };
                Console.WriteLine(result.GetValue(json)
                    ? JsonSerializer.Serialize(answer, UpdateJsonContext.Default.UpdateCheck)
                    : release is not null ? $"update available: {release.Version} (current {state.Current})"
                    : notAnUpdate ?? $"up to date: {state.Current} (channel {config.Channel}, sequence {check.Manifest!.Sequence})");
                return release is not null ? ExitCodes.UpdateAvailable : notAnUpdate is not null ? ExitCodes.Error : ExitCodes.Ok;
            }
            if (release is null)
            {
                Console.WriteLine(notAnUpdate ?? $"up to date: {state.Current} (channel {config.Channel}, sequence {check.Manifest!.Sequence})");
                return notAnUpdate is not null ? ExitCodes.Error : ExitCodes.Ok;
            }
            if (!Installer.KeeperIsRunning(layout))
            {
                throw new BelayException("the keeper is not running, so nothing can switch versions; start it (belay install, or its service) first");
            }
            using (var bar = TerminalProgress.OnStandardError())
            {
                await Stager.StageAsync(check.Source, release, rid, layout, line =>
                {
                    bar?.Dispose();
                    Console.WriteLine(line);
                }, cancel, bar is null ? null : bar.Report).ConfigureAwait(false);
            }
            var reply = await KeeperChannel.SendAsync(layout.KeeperSocket, $"SWITCH {release.Version}", TimeSpan.FromSeconds(10), cancel).ConfigureAwait(false);
            if (!reply.StartsWith("OK", StringComparison.Ordinal))
            {
                throw new BelayException($"the keeper refused the switch: {reply}");
            }
            Console.WriteLine($"switching to {release.Version}; waiting for its trial");
            var final = await WaitForAsync(layout, s => s.Trial is null && (s.Current == release.Version || s.Bad.Contains(release.Version)),
                timeout, cancel).ConfigureAwait(false);
            if (final.Current != release.Version)
            {
                throw new BelayException($"{release.Version} failed its trial and is marked bad; back on {final.Current} (see {layout.KeeperLog})");
            }
            Console.WriteLine($"now on {release.Version}");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Rollback()
    {
        var installation = new Installation();
        var command = new Command("rollback", "Go back to the previous good version (the current one is marked bad, so it is not taken again).");
        installation.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            var (config, _) = installation.Locate(result);
            var layout = config.Layout;
            using var installLock = InstallLock.Acquire(layout, "rollback");
            var before = InstallStateStore.Load(layout.StateFile);
            if (before.Previous is null && before.Trial is null)
            {
                throw new BelayException($"nothing to roll back to: no version before {before.Current} is recorded (one step back is kept, and none after a rollback); choose one with belay update --version V");
            }
            if (!Installer.KeeperIsRunning(layout))
            {
                throw new BelayException("the keeper is not running; start it first so it can switch versions");
            }
            var reply = await KeeperChannel.SendAsync(layout.KeeperSocket, "ROLLBACK", TimeSpan.FromSeconds(10), cancel).ConfigureAwait(false);
            Console.WriteLine($"keeper: {reply}");
            var target = before.Trial is null ? before.Previous : before.Current;
            var final = await WaitForAsync(layout, s => s.Trial is null && s.Current == target, TimeSpan.FromSeconds(60), cancel).ConfigureAwait(false);
            Console.WriteLine($"rolled back to {final.Current}; {before.Trial?.Version ?? before.Current} is marked bad");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<InstallState> WaitForAsync(InstallLayout layout, Func<InstallState, bool> done, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var until = DateTimeOffset.UtcNow + timeout;
        while (DateTimeOffset.UtcNow < until)
        {
            var state = InstallStateStore.Load(layout.StateFile);
            if (done(state))
            {
                return state;
            }
            await Task.Delay(250, cancellationToken).ConfigureAwait(false);
        }
        throw new BelayException($"no result within {timeout.TotalSeconds:0} s; see belay status and {layout.KeeperLog}");
    }
}

/// <summary>`belay update --check --json`: whether a newer version is available to this host.</summary>
internal sealed class UpdateCheck
{
    /// <summary>The committed version.</summary>
    public string Current { get; set; } = "";

    /// <summary>The version an update would take, or null when up to date.</summary>
    public string? Available { get; set; }
    public bool UpdateAvailable { get; set; }
    public string Channel { get; set; } = "";
    public long Sequence { get; set; }

    /// <summary>Why a version asked for with --version is not an update, else null.</summary>
    public string? Problem { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(UpdateCheck))]
internal sealed partial class UpdateJsonContext : JsonSerializerContext;
