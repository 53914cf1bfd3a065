using System.Diagnostics;
using System.Text.Json;
using Belay.EndToEnd.Tests.Install;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Hub;

/// <summary>
/// A hub and hosts enrolled with it, all real: the shipped NativeAOT belay-hub on a loopback
/// port, one feed served by nginx, and installations of the shipped belay in private prefixes
/// (user scope, no service manager), each with its own programs.conf. An admin operator with an
/// API token is made at the start. Disposal uninstalls every host and stops the hub.
/// </summary>
public sealed class HubFleet : IDisposable
{
    public const string AdminPassword = "correct horse battery staple";

    private readonly InstalledHost _feed = new();
    private readonly List<string> _prefixes = [];

    public HubFleet(params string[] hubArgs)
    {
        _feed.PublishAgent("1.0.0");
        Hub = new HubProcess(hubArgs);
        AdminToken = Hub.Operator("admin", "admin", AdminPassword);
    }

    public HubProcess Hub { get; }
    public string AdminToken { get; }
    public string FeedUrl => _feed.FeedUrl;
    public string RootPub => _feed.Workspace.RootPub;
    public string Root => _feed.Workspace.Root;

    /// <summary>A host's prefix; its scratch folder is Prefix/scratch.</summary>
    public string Prefix(string name) => Path.Combine(Root, "hosts", name);

    public string Scratch(string name) => Path.Combine(Prefix(name), "scratch");

    /// <summary>Writes the host's programs.conf (with $SCRATCH expanded) and installs it with the hub.</summary>
    public ToolResult Install(string name, string programsConf, string? token = null, params string[] extra) =>
        InstallWith(null, Hub.Url, name, programsConf, token, extra);

    /// <summary>As <see cref="Install"/>, with the hub at <paramref name="hubUrl"/> and these environment variables (the keeper and its agent inherit them).</summary>
    public ToolResult InstallWith(IDictionary<string, string?>? environment, string hubUrl, string name, string programsConf, string? token, params string[] extra)
    {
        var prefix = Prefix(name);
        Directory.CreateDirectory(Scratch(name));
        var conf = Path.Combine(prefix, "etc", "programs.conf");
        Directory.CreateDirectory(Path.GetDirectoryName(conf)!);
        File.WriteAllText(conf, programsConf.Replace("$SCRATCH", Scratch(name), StringComparison.Ordinal));
        File.SetUnixFileMode(conf, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        if (!_prefixes.Contains(prefix))
        {
            _prefixes.Add(prefix);
        }
        string[] hub = token is null ? [] : ["--hub", hubUrl, "--enroll-token", token];
        return BelayBinaries.RunWith(environment ?? new Dictionary<string, string?>(), BelayBinaries.Belay, [
            "install", "--feed", FeedUrl, "--scope", "user", "--prefix", prefix, "--root-key", RootPub, "--service-manager", "none",
            "--poll-interval", InstalledHost.PollInterval, "--trial-deadline", InstalledHost.TrialDeadline, "--wait", "30s", .. hub, .. extra]);
    }

    /// <summary>Installs and waits until the hub shows the host connected; returns its hub id.</summary>
    public string Enroll(string name, string programsConf)
    {
        var install = Install(name, programsConf, Hub.EnrollToken());
        Assert.True(install.ExitCode == 0, install + ReadLogs(name));
        var hubId = HubSettings(name).GetProperty("hostId").GetString()!;
        Hub.WaitForHosts(AdminToken, hosts => hosts.Any(h => h.GetProperty("id").GetString() == hubId && HubProcess.Connected(h)), TimeSpan.FromSeconds(60),
            $"showing {name} connected");
        return hubId;
    }

    public string HubSettingsPath(string name) => Path.Combine(Prefix(name), "etc", "hub.json");

    public JsonElement HubSettings(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(HubSettingsPath(name)));
        return doc.RootElement.Clone();
    }

    public JsonElement Host(string hubId) => Hub.Get(AdminToken, $"api/v1/hosts/{hubId}");

    public ToolResult Belay(string name, params string[] args) => InstalledHost.Belay([.. args, "--prefix", Prefix(name), "--scope", "user"]);

    /// <summary>Every log of a host (agent, keeper, programs), for failure messages and secret checks.</summary>
    public string ReadLogs(string name)
    {
        var dir = Path.Combine(Prefix(name), "log");
        return Directory.Exists(dir)
            ? string.Join("\n", Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Select(f => $"--- {f}\n{File.ReadAllText(f)}"))
            : "(no logs)";
    }

    /// <summary>Polls until <paramref name="done"/> holds; fails with the hub's and the host's logs.</summary>
    public void WaitUntil(Func<bool> done, TimeSpan timeout, string what, string? host = null)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            if (done())
            {
                return;
            }
            Thread.Sleep(100);
        }
        Assert.Fail($"not {what} within {timeout.TotalSeconds:0} s\nhub log:\n{Hub.Output}\n{(host is null ? "" : ReadLogs(host))}");
    }

    public void Dispose()
    {
        try
        {
            foreach (var prefix in _prefixes)
            {
                try
                {
                    InstalledHost.Belay("uninstall", "--prefix", prefix, "--scope", "user", "--purge");
                }
                finally
                {
                    ExternalTool.Run("pkill", ["-9", "-f", prefix]);
                }
            }
        }
        finally
        {
            Hub.Dispose();
            _feed.Dispose();
        }
    }
}
