using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Belay.EndToEnd.Tests.Install;
using Belay.EndToEnd.Tests.Release;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Deploy;

/// <summary>
/// An <see cref="InstalledHost"/> in group <c>default</c> of a feed whose root has a deploy
/// key, to which the test deploys the demo app (samples/hello-app: a tiny HTTP server in C,
/// hooks that record each step) with the shipped belay-release (app package, deploy). The
/// app listens on a free port; its hooks append to <see cref="HookLog"/> and wait while a file
/// of <see cref="HoldDir"/> names their step (<see cref="Hold"/>). The workspace is opened
/// (0755) so that an app running as nobody reaches its release folder.
/// </summary>
public sealed class DeployHost : IDisposable
{
    public const string App = "hello";

    private readonly InstalledHost _host = new(deploy: true);

    /// <param name="withIdentity">The host gets a group identity (an age key): the test can deploy secrets to it.</param>
    /// <param name="group">The group the test deploys to (the host is installed in it by <paramref name="install"/>, or is in <c>default</c>).</param>
    /// <param name="install">More options for belay install (a hub to enroll with, say).</param>
    public DeployHost(bool withIdentity = false, string group = "default", params string[] install)
    {
        Group = group;
        File.SetUnixFileMode(_host.Workspace.Root, (UnixFileMode)0b111_101_101);
        Directory.CreateDirectory(Scratch);
        File.SetUnixFileMode(Scratch, (UnixFileMode)0b111_111_111);
        Directory.CreateDirectory(HoldDir);
        File.SetUnixFileMode(HoldDir, (UnixFileMode)0b111_111_111);
        File.WriteAllText(HookLog, "");
        File.SetUnixFileMode(HookLog, (UnixFileMode)0b110_110_110);
        Port = FreePort();
        if (withIdentity)
        {
            var keygen = ExternalTool.Run("age-keygen", ["-o", IdentityFile]);
            Assert.True(keygen.ExitCode == 0, keygen.ToString());
            Recipient = File.ReadAllLines(IdentityFile).Single(l => l.StartsWith("# public key: ", StringComparison.Ordinal))["# public key: ".Length..];
        }
        _host.PublishAgent("1.0.0");
        Installed = _host.Install(install);
        Assert.True(Installed.ExitCode == 0, Installed + _host.ReadLog());
        if (withIdentity)
        {
            // Where belay install --group-identity puts it: config folder, owner-only.
            var target = Path.Combine(Prefix, "etc", "group-identity");
            File.Copy(IdentityFile, target, overwrite: true);
            File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    public InstalledHost Host => _host;
    public string Group { get; }

    /// <summary>What belay install printed.</summary>
    public ToolResult Installed { get; }
    public ReleaseWorkspace Workspace => _host.Workspace;
    public string Prefix => _host.Prefix;
    public int Port { get; }
    public string Scratch => Path.Combine(Workspace.Root, "scratch");
    public string HookLog => Path.Combine(Scratch, "hooks.log");
    public string HoldDir => Path.Combine(Scratch, "hold");
    public string IdentityFile => Path.Combine(Workspace.Root, "group.identity");
    public string? Recipient { get; }
    public string Releases => Path.Combine(Prefix, "releases", App);
    public string Journal => Path.Combine(Prefix, "var", "apps", App + ".json");
    public string DeployLog => Path.Combine(Prefix, "log", "apps", App + ".deploy.log");

    /// <summary>The demo app's release folder for <paramref name="version"/> (health gate shortened), changed by <paramref name="edit"/>, packaged with belay-release app package.</summary>
    public string Package(string version, Action<string>? edit = null)
    {
        var folder = HelloApp.Release(Path.Combine(Workspace.Root, "app-src", version));
        // A quicker health gate than the demo's (healthy for 500 ms, probed every 100 ms): tests take seconds.
        var conf = Path.Combine(folder, "belay-app.conf");
        File.WriteAllText(conf, File.ReadAllText(conf)
            .Replace("healthy_for = 2s", "healthy_for = 500ms", StringComparison.Ordinal)
            .Replace("interval = 500ms", "interval = 100ms", StringComparison.Ordinal));
        edit?.Invoke(folder);
        var output = Path.Combine(Workspace.Root, "app-packages");
        var result = ReleaseWorkspace.Release("app", "package", folder, "--name", App, "--version", version, "--rid", "linux-x64", "--out", output);
        Assert.True(result.ExitCode == 0, result.ToString());
        return Path.Combine(output, $"{App}-{version}-linux-x64.tar.gz");
    }

    /// <summary>belay-release deploy of <paramref name="version"/> (packaged first unless it was), with PORT, HOOK_LOG and HOOK_HOLD set.</summary>
    public ToolResult Deploy(string version, params string[] extra)
    {
        var archive = Path.Combine(Workspace.Root, "app-packages", $"{App}-{version}-linux-x64.tar.gz");
        if (!File.Exists(archive))
        {
            archive = Package(version);
        }
        var result = ReleaseWorkspace.Release([
            "deploy", "--feed", Workspace.Feed, "--group", Group, "--app", App, "--version", version,
            "--artifact", $"linux-x64={archive}", "--env", $"PORT={Port}", "--env", $"HOOK_LOG={HookLog}", "--env", $"HOOK_HOLD={HoldDir}",
            "--key", Workspace.DeployKey, .. extra]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result;
    }

    /// <summary>Makes the hook <paramref name="step"/> of <paramref name="version"/> wait until <see cref="Release"/>.</summary>
    public void Hold(string step, string version) => File.WriteAllText(Path.Combine(HoldDir, $"{step}.{version}"), "");

    public void Release(string step, string version) => File.Delete(Path.Combine(HoldDir, $"{step}.{version}"));

    public ToolResult Belay(params string[] args) => InstalledHost.Belay([.. args, "--prefix", Prefix, "--scope", "user"]);

    public JsonElement Apps()
    {
        var result = Belay("apps", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        using var doc = JsonDocument.Parse(result.StdOut);
        return doc.RootElement.Clone();
    }

    public static JsonElement AppOf(JsonElement apps) =>
        apps.GetProperty("apps").EnumerateArray().FirstOrDefault(a => a.GetProperty("name").GetString() == App);

    public static string? Str(JsonElement app, string key) =>
        app.ValueKind == JsonValueKind.Object && app.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static string? LastResult(JsonElement app) =>
        app.ValueKind == JsonValueKind.Object && app.GetProperty("lastDeploy") is { ValueKind: JsonValueKind.Object } d ? d.GetProperty("result").GetString() : null;

    /// <summary>Converged on <paramref name="version"/>, running it.</summary>
    public static bool On(JsonElement app, string version) =>
        Str(app, "state") == "converged" && Str(app, "running") == version && Str(app, "current") == version;

    /// <summary>Polls belay apps until the app satisfies <paramref name="done"/>; fails with the report and the logs.</summary>
    public JsonElement WaitForApp(Func<JsonElement, bool> done, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(90);
        var watch = Stopwatch.StartNew();
        JsonElement app = default;
        while (watch.Elapsed < limit)
        {
            app = AppOf(Apps());
            if (app.ValueKind == JsonValueKind.Object && done(app))
            {
                return app;
            }
            Thread.Sleep(200);
        }
        Assert.Fail($"{App} not {what} within {limit.TotalSeconds:0} s. Last:\n{app}\n{Diagnostics()}");
        return app;
    }

    public string Diagnostics() =>
        $"Deploy log:\n{Read(DeployLog)}\nHooks:\n{Read(HookLog)}\nAgent log:\n{ReadAgentLog()}\nKeeper log:\n{_host.ReadLog()}";

    public string ReadAgentLog()
    {
        var dir = Path.Combine(Prefix, "log");
        return Directory.Exists(dir)
            ? string.Join("\n", Directory.EnumerateFiles(dir, "agent*.log").Order(StringComparer.Ordinal).Select(File.ReadAllText))
            : "(no agent log)";
    }

    private static string Read(string path) => File.Exists(path) ? File.ReadAllText(path) : $"(no {path})";

    /// <summary>The hook lines recorded since the last call.</summary>
    public IReadOnlyList<string> TakeHookLines()
    {
        var lines = File.ReadAllLines(HookLog);
        File.WriteAllText(HookLog, "");
        return lines;
    }

    /// <summary>GET http://127.0.0.1:PORT/PATH: (status, body), or (0, error) when nothing answers.</summary>
    public (int Status, string Body) Get(string path)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = client.GetAsync(new Uri($"http://127.0.0.1:{Port}{path}")).GetAwaiter().GetResult();
            return ((int)response.StatusCode, response.Content.ReadAsStringAsync().GetAwaiter().GetResult());
        }
        catch (HttpRequestException e)
        {
            return (0, e.Message);
        }
    }

    /// <summary>The app's pid from the supervisor's state file (0 when it does not run).</summary>
    public int AppPid()
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Prefix, "var", "programs", "state.json")));
            return doc.RootElement.GetProperty("programs").EnumerateArray()
                .Where(p => p.GetProperty("name").GetString() == "@" + App).Select(p => p.GetProperty("pid").GetInt32()).FirstOrDefault();
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException)
        {
            return 0;
        }
    }

    /// <summary>The agent's pid (from belay status).</summary>
    public int AgentPid() => _host.Status().GetProperty("agent").GetProperty("pid") is { ValueKind: JsonValueKind.Number } p ? p.GetInt32() : 0;

    /// <summary>The release folders on disk, dot-named (private) ones included.</summary>
    public IReadOnlyList<string> ReleaseFolders() =>
        Directory.Exists(Releases) ? [.. Directory.EnumerateDirectories(Releases).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)] : [];

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        var pid = AppPid();
        try
        {
            foreach (var hold in Directory.Exists(HoldDir) ? Directory.GetFiles(HoldDir) : [])
            {
                File.Delete(hold);
            }
            _host.Dispose();
        }
        finally
        {
            if (pid > 1)
            {
                ExternalTool.Run("kill", ["-9", "--", $"-{pid}"]);
            }
        }
    }
}
