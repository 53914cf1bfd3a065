using System.Diagnostics;
using System.Text.Json;

namespace Belay.Bench;

/// <summary>
/// One Belay installation in a private prefix (user scope, the none service manager: the
/// keeper runs detached, as on a host without systemd), driven through the shipped belay CLI.
/// </summary>
internal sealed class BelayHost
{
    private readonly BenchContext _ctx;

    public BelayHost(BenchContext ctx, string prefix)
    {
        _ctx = ctx;
        Prefix = prefix;
    }

    public string Prefix { get; }

    /// <summary>belay install with the product's defaults (poll every 10 s, trial deadline 60 s, 3 tries) unless <paramref name="extra"/> says otherwise.</summary>
    public CommandResult Install(string feedUrl, params string[] extra) =>
        Shell.Run(_ctx.Belay, ["install", "--feed", feedUrl, "--scope", "user", "--prefix", Prefix, "--service-manager", "none", .. extra],
            _ctx.Tls.ClientEnvironment, TimeSpan.FromMinutes(3));

    public CommandResult Belay(params string[] args) =>
        Shell.Run(_ctx.Belay, [.. args, "--prefix", Prefix, "--scope", "user"], _ctx.Tls.ClientEnvironment, TimeSpan.FromMinutes(2));

    public JsonElement? Status()
    {
        // belay status exits 1 while the keeper or the agent is down, with the report still on stdout.
        var r = Belay("status", "--json");
        if (r.StdOut.Length == 0)
        {
            return null;
        }
        try
        {
            using var doc = JsonDocument.Parse(r.StdOut);
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Polls status every <paramref name="every"/> until <paramref name="done"/>; false on timeout.</summary>
    public bool WaitFor(Func<JsonElement, bool> done, TimeSpan timeout, TimeSpan every)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            if (Status() is { } s && done(s))
            {
                return true;
            }
            Thread.Sleep(every);
        }
        return false;
    }

    public int? KeeperPid() => Status() is { } s && s.TryGetProperty("keeper", out var k) && k.TryGetProperty("pid", out var p) && p.ValueKind == JsonValueKind.Number
        ? p.GetInt32() : null;

    public void Uninstall()
    {
        if (Directory.Exists(Prefix))
        {
            Belay("uninstall", "--purge");
        }
    }

    /// <summary>Running <paramref name="version"/>, committed (no trial), agent ready.</summary>
    public static bool On(JsonElement s, string version) =>
        Str(s, "version") == version && IsNull(s, "trial") && s.TryGetProperty("agent", out var a) &&
        a.TryGetProperty("ready", out var r) && r.ValueKind == JsonValueKind.True;

    /// <summary>Back on <paramref name="version"/> with <paramref name="bad"/> in the bad list.</summary>
    public static bool RolledBack(JsonElement s, string version, string bad) =>
        On(s, version) && s.TryGetProperty("bad", out var list) && list.EnumerateArray().Any(e => e.GetString() == bad);

    /// <summary>The bench app converged on <paramref name="version"/> (installed, running, through its health gate).</summary>
    public static bool AppOn(JsonElement s, string version) =>
        s.TryGetProperty("apps", out var apps) && apps.ValueKind == JsonValueKind.Array && apps.EnumerateArray().Any(a =>
            Str(a, "name") == BenchFeed.App && Str(a, "state") == "converged" && Str(a, "running") == version);

    public static bool Ready(JsonElement s) =>
        s.TryGetProperty("agent", out var a) && a.TryGetProperty("ready", out var r) && r.ValueKind == JsonValueKind.True;

    private static string? Str(JsonElement s, string key) => s.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static bool IsNull(JsonElement s, string key) => !s.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null;
}
