using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Belay.Bootstrapper.Install;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Feed;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Services;

namespace Belay.Bootstrapper.Commands;

/// <summary>
/// `belay doctor`: checks what keeps an installation trustworthy and working, and prints what
/// to fix: file ownership and modes, feed reachability (as a host with only the pinned keys
/// would read it, following every root rotation), clock skew against the feed's Date header,
/// the key state (compiled in, pinned, trusted root version and expiry), stale metadata,
/// and the service manager's view. Exit 1 when anything is wrong; warnings do not fail it.
/// </summary>
internal static class DoctorCommand
{
    /// <summary>More skew than this makes expiry judgements wrong by as much: a problem.</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(5);

    /// <summary>A trusted root that expires sooner than this is worth a warning.</summary>
    public static readonly TimeSpan RootExpiryWarning = TimeSpan.FromDays(30);

    public static Command Create()
    {
        var installation = new Installation();
        var json = new Option<bool>("--json") { Description = "Print the report as JSON: {ok, problems, warnings, findings: [{check, ok, warning, detail, fix}]}." };
        var repair = new Option<bool>("--repair") { Description = "Also put right what can be: rebuild a damaged state.json, move aside a damaged agent.json or trust.json, drop damaged program records, write a new host id." };
        var command = new Command("doctor", "Check this installation (permissions, files, feed, clock, keys, service) and say what to fix; --repair fixes what it can.") { json, repair };
        installation.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            var (path, layout) = installation.Find(result);
            InstallConfig? config = null;
            var findings = new List<Finding>();
            try
            {
                config = InstallConfig.Load(path);
                layout = config.Layout;
            }
            catch (JsonFileException e) when (e.ExitCode != ExitCodes.NeedsPrivileges)
            {
                // Damaged: a finding. Unreadable for lack of rights: nothing here can be checked, exit 5 (run it with sudo).
                findings.Add(new Finding("files", false, e.Message, "belay install --feed URL ... with this installation's options rewrites it"));
            }
            var files = InstallFileChecks.Check(layout);
            if (result.GetValue(repair))
            {
                // One writer at a time: not while an install or update runs.
                using var installLock = InstallLock.Acquire(layout, "doctor --repair");
                foreach (var check in files.Where(c => c.Repair is not null && !c.Finding.Ok))
                {
                    try
                    {
                        Console.WriteLine($"repaired: {check.Repair!()}");
                    }
                    catch (Exception e) when (e is BelayException or IOException or UnauthorizedAccessException)
                    {
                        Console.WriteLine($"not repaired: {check.Finding.Detail}: {(e is BelayException ? e.Message : IOErrors.Describe(e))}");
                    }
                }
                files = InstallFileChecks.Check(layout);
                if (Installer.KeeperIsRunning(layout))
                {
                    Console.WriteLine("the keeper runs and read its state when it started: restart it (belay service restart) so that it reads the repaired files");
                }
            }
            findings.AddRange(files.Select(c => c.Repair is null || c.Finding.Ok ? c.Finding : c.Finding with { Fix = "belay doctor --repair" }));
            if (config is not null)
            {
                findings.AddRange(await RunAsync(config, cancel).ConfigureAwait(false));
            }
            if (result.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(DoctorReport.From(findings), DoctorJsonContext.Default.DoctorReport));
            }
            else
            {
                foreach (var f in findings)
                {
                    Console.WriteLine($"{(f.Ok ? "ok  " : f.Warning ? "warn" : "FAIL")}  {f.Check}: {f.Detail}");
                    if (!f.Ok && f.Fix is not null)
                    {
                        Console.WriteLine($"      fix: {f.Fix}");
                    }
                }
                var failed = findings.Count(f => !f.Ok && !f.Warning);
                Console.WriteLine(failed == 0 ? "no problem found" : $"{failed} problem(s) found");
            }
            return findings.Any(f => !f.Ok && !f.Warning) ? ExitCodes.Error : ExitCodes.Ok;
        });
        return command;
    }

    public static async Task<List<Finding>> RunAsync(InstallConfig config, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(config);
        var layout = config.Layout;
        var scope = Installation.ParseScope(config.Scope);
        var findings = new List<Finding>();
        if (!OperatingSystem.IsWindows())
        {
            findings.AddRange(PermissionChecks.Check(layout, scope));
        }
        else
        {
            findings.Add(new Finding("binaries", true, "ownership and ACLs of the binaries are not checked on Windows yet") { Warning = true });
            findings.AddRange(WindowsPermissionChecks.Check(layout, config.SecretScope, new OwnerOnlyAcl(new Belay.Core.IO.Windows.NativeFileSecurity())));
            findings.AddRange(SecretsAtRest.Check(layout, new SecretProtection(new Belay.Core.IO.Windows.NativeDataProtection(), config.SecretScope)));
        }

        // Keys: compiled in, pinned, and the root this host has come to trust.
        var compiled = RootKeysCommand.Parse(BuildInfo.RootKeys);
        var pinned = config.ParseRootKeys();
        findings.Add(new Finding("keys", true, pinned.All(compiled.Contains)
            ? $"pinned root key(s) {Ids(pinned)}, the ones this belay was built with"
            : $"pinned root key(s) {Ids(pinned)} (given with --root-key at install); this belay was built with {(compiled.Count == 0 ? "none" : Ids(compiled))}"));
        var now = DateTimeOffset.UtcNow;
        var trust = TrustState.TryLoad(layout.TrustFile);
        var trusted = trust?.TrustedRoot(layout.TrustFile);
        if (trusted is null)
        {
            findings.Add(new Finding("keys", true, $"no trusted root recorded yet ({layout.TrustFile}); the agent records one at its next feed check") { Warning = true });
        }
        else if (trusted.Document.Expires <= now)
        {
            findings.Add(new Finding("keys", false, $"the trusted root (version {trusted.Document.Version}) expired at {trusted.Document.Expires:u}: updates stop", "the publisher must run belay-release root rotate (or init --force) and upload root.json"));
        }
        else
        {
            var soon = trusted.Document.Expires - now < RootExpiryWarning;
            findings.Add(new Finding("keys", !soon, $"trusted root version {trusted.Document.Version}, expires {trusted.Document.Expires:u}, watermark sequence {trust!.Sequence}",
                soon ? "ask the publisher to renew root.json (belay-release root rotate) before it expires" : null) { Warning = soon });
        }
        var agent = AgentStatus.TryLoad(layout.AgentStatusFile);
        if (agent?.ManifestExpires is { } expires && expires <= now)
        {
            findings.Add(new Finding("feed", false, $"the channel manifest this host last verified expired at {expires:u}: metadata is stale, no update is installed",
                "the publisher must re-sign the channel (belay-release refresh); if the feed is current, check the clock and the CDN's cache"));
        }

        // The feed, as a host with only the pinned keys would read it (nothing is written).
        using (var client = new FeedClient(config.Feeds, pinned, config.Product, config.Channel, config.AllowInsecureHttp))
        {
            try
            {
                var check = await client.CheckAsync(0, null, cancel).ConfigureAwait(false);
                findings.Add(new Finding("feed", true, $"{check.Source.Location}: root version {check.Root!.Version}{(check.Rotations > 0 ? $" ({check.Rotations} rotation(s) from the pinned key)" : "")}, channel {config.Channel} sequence {check.Manifest!.Sequence}, expires {check.Manifest.Expires:u}"));
                if (trusted is not null && trusted.Document.Version > check.Root.Version)
                {
                    findings.Add(new Finding("feed", false, $"the feed serves root version {check.Root.Version}, older than the version {trusted.Document.Version} this host trusts: a stale mirror or cache", "invalidate the CDN's /root.json*, or check the mirror") { Warning = true });
                }
            }
            catch (BelayException e)
            {
                findings.Add(new Finding("feed", false, e.Message, e.ExitCode == ExitCodes.FeedUnreachable
                    ? "check the network, the feed URL in the config, and that the server answers (curl -I URL/root.json)"
                    : "a trust failure: do not work around it; check the pinned keys against the publisher's root.pub and the feed's root.json"));
            }

            // Clock skew against each HTTP feed's Date header.
            foreach (var source in client.Sources.Where(s => s.Location.StartsWith("http", StringComparison.OrdinalIgnoreCase)))
            {
                try
                {
                    if (await source.ServerDateAsync(cancel).ConfigureAwait(false) is { } date)
                    {
                        var skew = DateTimeOffset.UtcNow - date;
                        var abs = skew.Duration();
                        findings.Add(abs <= MaxClockSkew
                            ? new Finding("clock", true, $"within {Seconds(abs)} of {source.Location}")
                            : new Finding("clock", false, $"this host's clock is {Seconds(abs)} {(skew > TimeSpan.Zero ? "ahead of" : "behind")} {source.Location}: expiry checks are off by as much",
                                "synchronise the clock (timedatectl set-ntp true, or chrony/ntpd)"));
                    }
                }
                catch (BelayException e)
                {
                    findings.Add(new Finding("clock", false, $"cannot read the Date of {source.Location}: {e.Message}") { Warning = true });
                }
            }
        }

        // The service manager's view.
        try
        {
            var status = ServiceBackends.Create(config.ServiceManager, layout, _ => { }).Status(ServiceDefinition.For(layout, scope));
            findings.Add(status.Installed && status.Running
                ? new Finding("service", true, $"{config.ServiceManager}: {status.State}")
                : new Finding("service", false, $"{config.ServiceManager}: {status.State} ({status.Detail})",
                    status.Installed ? $"start it: belay service start, or see {status.Detail}" : "register it again: belay install --feed URL (same options)"));
        }
        catch (BelayException e)
        {
            findings.Add(new Finding("service", false, $"{config.ServiceManager}: {e.Message}"));
        }
        return findings;
    }

    private static string Ids(IEnumerable<Belay.Core.Minisign.MinisignPublicKey> keys) => string.Join(", ", keys.Select(k => k.KeyIdHex));

    private static string Seconds(TimeSpan t) => $"{t.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s";
}

/// <summary>
/// `belay doctor --json`, a documented shape (docs/operating.md): <c>ok</c> is false when a problem
/// was found (what exit 1 means), <c>problems</c> and <c>warnings</c> count them, <c>findings</c> lists
/// every check in the order it ran: {check, ok, warning, detail, fix}.
/// </summary>
internal sealed class DoctorReport
{
    public bool Ok { get; set; }
    public int Problems { get; set; }
    public int Warnings { get; set; }
    public List<Finding> Findings { get; set; } = [];

    public static DoctorReport From(List<Finding> findings) => new()
    {
        Ok = !findings.Any(f => !f.Ok && !f.Warning),
        Problems = findings.Count(f => !f.Ok && !f.Warning),
        Warnings = findings.Count(f => f.Warning && !f.Ok),
        Findings = findings,
    };
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(DoctorReport))]
internal sealed partial class DoctorJsonContext : JsonSerializerContext;
