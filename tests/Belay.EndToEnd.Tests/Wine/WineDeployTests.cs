using System.Diagnostics;
using System.Text.Json;
using Belay.EndToEnd.Tests.Release;
using Belay.TestSupport;
using static Belay.EndToEnd.Tests.Wine.WineWaits;

namespace Belay.EndToEnd.Tests.Wine;

/// <summary>
/// Deployed apps on Windows, under Wine: the keeper runs as a service of Wine's SCM, its agent polls the group
/// document of a feed whose root lists a deploy key, and deploys a win-x64 app made of winprog.c (next to this
/// file, built with mingw) with a .cmd pre_start hook and a .cmd health command, both run by the Windows hook
/// runner (each in a Job Object of its own, output on a pipe into the deploy log). A release whose health
/// command fails is rolled back to the one before.
/// </summary>
public sealed class WineDeployTests
{
    private const string DataRoot = @"C:\ProgramData\Belay";
    private const string App = "hello";

    [Fact]
    public void An_app_deploys_with_a_cmd_hook_and_health_command_and_one_whose_health_check_fails_is_rolled_back()
    {
        _ = WinePrefix.RequireWine();
        var gcc = ExternalTool.Require("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64-win32");
        using var ws = new ReleaseWorkspace();
        var init = ws.InitWithDeploy();
        Assert.True(init.ExitCode == 0, init.ToString());
        WindowsBuild.PublishAgent(ws, "1.0.0");
        using var wine = WinePrefix.Create();
        var exe = WindowsBuild.OnZ(WindowsBuild.Belay);
        WindowsBuild.InstallSystemNoStart(wine, ws, exe);
        var program = Path.Combine(ws.Root, "winprog.exe");
        var built = ExternalTool.Run(gcc, ["-O2", "-o", program, Path.Combine(BelayBinaries.RepoRoot, "tests", "Belay.EndToEnd.Tests", "Wine", "winprog.c")]);
        Assert.True(built.ExitCode == 0, built.ToString());

        Deploy(ws, Package(ws, program, "1.0.0", healthy: true));
        var start = wine.Run("sc", "start", "Belay");
        Assert.True(start.ExitCode == 0, start.ToString());
        wine.WaitForState("Belay", 4, TimeSpan.FromSeconds(90));

        // Converged on 1.0.0 and running (belay status shows its pid), its hook's output in the deploy log.
        var app = WaitForApp(wine, exe, a => Str(a, "state") == "converged" && Str(a, "running") == "1.0.0" && Str(a, "current") == "1.0.0", "converged on 1.0.0");
        Assert.Equal("ok", LastResult(app));
        var deployLog = DeployLog(wine);
        Assert.True(deployLog.Contains("pre_start hook of 1.0.0 says hello from C:\\Program Files\\Belay\\releases\\hello\\1.0.0", StringComparison.OrdinalIgnoreCase)
            && deployLog.Contains("pre_start: exited with code 0", StringComparison.Ordinal), deployLog);
        var status = Until(() => wine.Run(exe, "status", "--json"), r => r.ExitCode == 0 && Pid(r.StdOut) > 0, "belay status shows hello with its pid");
        var pid = Pid(status.StdOut);
        Assert.Contains(Running(wine), c => c.Contains("winprog.exe serve", StringComparison.Ordinal));

        // 2.0.0's health command fails: the deploy is rolled back, 1.0.0 runs again.
        Deploy(ws, Package(ws, program, "2.0.0", healthy: false));
        _ = wine.Run(exe, "poll");
        app = WaitForApp(wine, exe, a => LastResult(a) == "rolled-back" && Str(a, "running") == "1.0.0", "rolled back to 1.0.0",
            TimeSpan.FromMinutes(4));
        Assert.Equal("failed", Str(app, "state")); // 2.0.0 is still desired, and bad
        deployLog = DeployLog(wine);
        Assert.True(deployLog.Contains("pre_start hook of 2.0.0 says hello", StringComparison.Ordinal)
            && deployLog.Contains("was not healthy for 0.5 s within 20 s", StringComparison.Ordinal), deployLog);
        Assert.True(Pid(wine.Run(exe, "status", "--json").StdOut) is var again && again > 0 && again != pid, "1.0.0 was started again");
    }

    /// <summary>The release folder for <paramref name="version"/>, packaged for win-x64 with belay-release app package.</summary>
    private static string Package(ReleaseWorkspace ws, string program, string version, bool healthy)
    {
        var folder = Path.Combine(ws.Root, "app-src", version);
        Directory.CreateDirectory(Path.Combine(folder, "bin"));
        Directory.CreateDirectory(Path.Combine(folder, "hooks"));
        File.Copy(program, Path.Combine(folder, "bin", "winprog.exe"));
        File.WriteAllText(Path.Combine(folder, "belay-app.conf"), """
            [app]
            exec = bin/winprog.exe serve
            stop_timeout = 3s
            start_timeout = 1s

            [hooks]
            pre_start = hooks/pre_start.cmd
            timeout = 60s

            [health]
            command = hooks/health.cmd
            interval = 200ms
            timeout = 30s
            healthy_for = 500ms
            deadline = 20s
            """);
        File.WriteAllText(Path.Combine(folder, "hooks", "pre_start.cmd"), "@echo off\r\necho pre_start hook of %BELAY_TARGET_VERSION% says hello from %CD%\r\nexit /b 0\r\n");
        File.WriteAllText(Path.Combine(folder, "hooks", "health.cmd"), healthy
            ? "@echo off\r\necho healthy\r\nexit /b 0\r\n"
            : $"@echo off\r\necho {version} is not healthy\r\nexit /b 1\r\n");
        // No executable bit: a win-x64 release is checked for files Windows runs instead.
        var output = Path.Combine(ws.Root, "app-packages");
        var result = ReleaseWorkspace.Release("app", "package", folder, "--name", App, "--version", version, "--rid", "win-x64", "--out", output);
        Assert.True(result.ExitCode == 0, result.ToString());
        return Path.Combine(output, $"{App}-{version}-win-x64.zip");
    }

    private static void Deploy(ReleaseWorkspace ws, string archive)
    {
        var version = Path.GetFileName(archive).Split('-')[1];
        var result = ReleaseWorkspace.Release("deploy", "--feed", ws.Feed, "--group", "default", "--app", App, "--version", version,
            "--artifact", $"win-x64={archive}", "--key", ws.DeployKey);
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    private static JsonElement WaitForApp(WinePrefix wine, string exe, Func<JsonElement, bool> done, string what, TimeSpan? timeout = null)
    {
        var watch = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromMinutes(3);
        var last = "";
        while (watch.Elapsed < limit)
        {
            var r = wine.Run(exe, "apps", "--json");
            last = r.ToString();
            if (r.ExitCode == 0 && r.StdOut.TrimStart().StartsWith('{'))
            {
                using var doc = JsonDocument.Parse(r.StdOut);
                var app = doc.RootElement.GetProperty("apps").EnumerateArray().FirstOrDefault(a => a.GetProperty("name").GetString() == App);
                if (app.ValueKind == JsonValueKind.Object && done(app))
                {
                    return app.Clone();
                }
            }
            Thread.Sleep(1000);
        }
        Assert.Fail($"{App} not {what} within {limit.TotalSeconds:0} s. Last belay apps:\n{last}\nDeploy log:\n{DeployLog(wine)}\nAgent log:\n{ReadShared(wine.OnLinux(DataRoot + @"\logs\agent.log"))}");
        return default;
    }

    private static string? Str(JsonElement app, string key) =>
        app.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string? LastResult(JsonElement app) =>
        app.TryGetProperty("lastDeploy", out var d) && d.ValueKind == JsonValueKind.Object ? d.GetProperty("result").GetString() : null;

    /// <summary>The app's pid as belay status --json shows it (0 when none).</summary>
    private static int Pid(string statusJson)
    {
        using var doc = JsonDocument.Parse(statusJson);
        return doc.RootElement.GetProperty("apps").EnumerateArray()
            .Where(p => p.GetProperty("name").GetString() == App && p.TryGetProperty("pid", out var pid) && pid.ValueKind == JsonValueKind.Number)
            .Select(p => p.GetProperty("pid").GetInt32()).FirstOrDefault();
    }

    private static string DeployLog(WinePrefix wine)
    {
        var root = wine.OnLinux(DataRoot);
        return Directory.Exists(root)
            ? string.Join("\n", Directory.EnumerateFiles(root, App + ".deploy.log", SearchOption.AllDirectories).Select(ReadShared))
            : "(no data folder)";
    }
}
