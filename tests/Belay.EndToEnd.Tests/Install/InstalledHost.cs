using System.Diagnostics;
using System.Text.Json;
using Belay.EndToEnd.Tests.Release;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Install;

/// <summary>
/// One simulated host for end-to-end tests: a feed written by belay-release and served by a
/// real nginx on loopback, and an installation of the shipped NativeAOT belay in a private
/// prefix (user scope, the none service manager). Disposal uninstalls and makes sure no
/// keeper or agent of this host is left running. The host runs the host's own build, or the
/// one given (the linux-arm64 build under emulation); the feed is always written by the host's
/// belay-release, as a publisher's machine would.
/// </summary>
public sealed class InstalledHost : IDisposable
{
    public const string PollInterval = "1s";
    public const string TrialDeadline = "4s";

    /// <summary>Under emulation an agent takes many times longer to start: its trial and the waits are generous.</summary>
    public const string EmulatedTrialDeadline = "60s";

    private readonly ReleaseWorkspace _ws = new();
    private readonly Lock _nginxLock = new();
    private NginxServer? _nginx;
    private string? _package;

    /// <param name="build">The binaries to install (the host's own by default).</param>
    /// <param name="deploy">The feed's root also lists the workspace's deploy key (for group documents).</param>
    public InstalledHost(BelayBuild? build = null, bool deploy = false)
    {
        Build = build ?? BelayBuild.Host;
        Prefix = Path.Combine(_ws.Root, "host");
        var init = deploy ? _ws.InitWithDeploy() : _ws.Init();
        Assert.True(init.ExitCode == 0, init.ToString());
    }

    public ReleaseWorkspace Workspace => _ws;
    public BelayBuild Build { get; }
    public string Prefix { get; }
    public string FeedUrl => Nginx.BaseUri.AbsoluteUri;
    /// <summary>
    /// The feed's nginx, started on first use. Under a lock: tests run commands on two threads at once
    /// (ConcurrentCommandsTests), and an unlocked <c>??=</c> started two servers and kept one, leaving the other
    /// running after the test (an nginx and its folder left by every run).
    /// </summary>
    public NginxServer Nginx
    {
        get
        {
            lock (_nginxLock)
            {
                return _nginx ??= NginxServer.Start(_ws.Feed);
            }
        }
    }
    public string KeeperLog => Path.Combine(Prefix, "log", "keeper.log");

    /// <summary>Publishes the shipped agent as <paramref name="version"/> (the keeper tells it which version folder it runs).</summary>
    public void PublishAgent(string version, int rollout = 100) => Publish(version, File.ReadAllBytes(Build.Agent), rollout);

    /// <summary>Publishes a release whose agent is a shell script: a stand-in for a broken build.</summary>
    public void PublishScript(string version, string script) => Publish(version, System.Text.Encoding.UTF8.GetBytes("#!/bin/sh\n" + script + "\n"));

    private void Publish(string version, byte[] agent, int rollout = 100)
    {
        var input = Path.Combine(_ws.Root, $"agent-{version}");
        Directory.CreateDirectory(input);
        var exe = Path.Combine(input, "belay-agent");
        File.WriteAllBytes(exe, agent);
        File.SetUnixFileMode(exe, (UnixFileMode)0b111_101_101);
        var packages = Path.Combine(_ws.Root, "packages");
        var package = ReleaseWorkspace.Release("package", "--compact", "fast", "--rid", Build.Rid, "--version", version, "--input", input, "--out", packages);
        Assert.True(package.ExitCode == 0, package.ToString());
        var publish = ReleaseWorkspace.Release("publish", "--feed", _ws.Feed, "--version", version,
            "--artifact", $"{Build.Rid}={Path.Combine(packages, $"belay-agent-{version}-{Build.Rid}.tar.gz")}", "--key", _ws.ReleaseKey,
            "--rollout", rollout.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(publish.ExitCode == 0, publish.ToString());
    }

    /// <summary>Publishes the shipped agent as <paramref name="version"/> from one package made once (an archive's
    /// bytes do not depend on the version): fast enough to publish a version per iteration of a soak.</summary>
    public void PublishAgentCopy(string version)
    {
        var packages = Path.Combine(_ws.Root, "packages");
        if (_package is null)
        {
            var input = Path.Combine(_ws.Root, "agent-shipped");
            Directory.CreateDirectory(input);
            File.Copy(Build.Agent, Path.Combine(input, "belay-agent"), overwrite: true);
            var package = ReleaseWorkspace.Release("package", "--compact", "fast", "--rid", Build.Rid, "--version", "0.0.0", "--input", input, "--out", packages);
            Assert.True(package.ExitCode == 0, package.ToString());
            _package = Path.Combine(packages, $"belay-agent-0.0.0-{Build.Rid}.tar.gz");
        }
        var archive = Path.Combine(packages, $"belay-agent-{version}-{Build.Rid}.tar.gz");
        File.Copy(_package, archive, overwrite: true);
        // Its compact form too, so that hosts update from it as they do from a release belay-release package made.
        var compact = Core.Publishing.ArchiveBuilder.CompactPathOf(archive, Build.Rid);
        if (compact is not null)
        {
            File.Copy(Core.Publishing.ArchiveBuilder.CompactPathOf(_package, Build.Rid)!, compact, overwrite: true);
        }
        var publish = ReleaseWorkspace.Release("publish", "--feed", _ws.Feed, "--version", version, "--artifact", $"{Build.Rid}={archive}", "--key", _ws.ReleaseKey);
        Assert.True(publish.ExitCode == 0, publish.ToString());
        File.Delete(archive);
        if (compact is not null)
        {
            File.Delete(compact);
        }
    }

    public static int? ReadPid(string path) =>
        File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), System.Globalization.CultureInfo.InvariantCulture, out var pid) ? pid : null;

    public static ToolResult Belay(params string[] args) => BelayBinaries.Run(BelayBinaries.Belay, args);

    /// <summary>This host's own belay (its build's), with <paramref name="args"/>.</summary>
    public ToolResult Run(params string[] args) =>
        ExternalTool.Run(Build.Belay, args, timeout: TimeSpan.FromMinutes(Build.Emulated ? 6 : 2));

    public ToolResult Install(params string[] extra) => Run(InstallArgs(extra));

    /// <summary>The arguments of <see cref="Install"/>, for running it another way (another PATH, a terminal).</summary>
    public string[] InstallArgs(params string[] extra) => [
        "install", "--feed", FeedUrl, "--scope", "user", "--prefix", Prefix, "--root-key", _ws.RootPub, "--service-manager", "none",
        "--poll-interval", PollInterval, "--trial-deadline", Build.Emulated ? EmulatedTrialDeadline : TrialDeadline,
        "--wait", Build.Emulated ? "240s" : "30s", .. extra];

    /// <summary>belay status --json, by this host's own belay.</summary>
    public JsonElement Status() => Status(Run("status", "--prefix", Prefix, "--scope", "user", "--json"));

    /// <summary>
    /// belay status --json for polling: under emulation each run of the arm64 belay costs about a
    /// second of CPU, so waits read the same files with the machine's own belay (a reader only).
    /// </summary>
    public JsonElement Poll() => Build.Emulated ? Status(Belay("status", "--prefix", Prefix, "--scope", "user", "--json")) : Status();

    private static JsonElement Status(ToolResult result)
    {
        // Exit 1 while the keeper or the agent is down (a switch, a trial): the report is still printed.
        Assert.True(result.ExitCode is 0 or 1 && result.StdOut.Length > 0, result.ToString());
        using var doc = JsonDocument.Parse(result.StdOut);
        return doc.RootElement.Clone();
    }

    /// <summary>Polls belay status until <paramref name="done"/> holds; fails with the last status and the keeper log.</summary>
    public JsonElement WaitFor(Func<JsonElement, bool> done, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        JsonElement status = default;
        while (watch.Elapsed < timeout)
        {
            status = Poll();
            if (done(status))
            {
                return status;
            }
            Thread.Sleep(200);
        }
        Assert.Fail($"not {what} within {timeout.TotalSeconds:0} s. Last status:\n{status}\nKeeper log:\n{ReadLog()}");
        return status;
    }

    public string ReadLog() => File.Exists(KeeperLog) ? File.ReadAllText(KeeperLog) : "(no keeper log)";

    public static string? Version(JsonElement status) => status.GetProperty("version").GetString();

    public static string? Trial(JsonElement status) => status.GetProperty("trial").GetString();

    public static IReadOnlyList<string?> Bad(JsonElement status) => [.. status.GetProperty("bad").EnumerateArray().Select(e => e.GetString())];

    public static bool On(JsonElement status, string version) =>
        Version(status) == version && Trial(status) is null && status.GetProperty("agent").GetProperty("ready").GetBoolean();

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Prefix))
            {
                Run("uninstall", "--prefix", Prefix, "--scope", "user", "--purge");
            }
        }
        finally
        {
            // A safety net: nothing of this host may outlive the test.
            ExternalTool.Run("pkill", ["-9", "-f", Prefix]);
            _nginx?.Dispose();
            _ws.Dispose();
        }
    }
}
