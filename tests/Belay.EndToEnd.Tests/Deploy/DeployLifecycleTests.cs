using System.Text.Json;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Deploy;

/// <summary>
/// The lifecycle of a real app (the demo's tiny HTTP server) on a host that the shipped
/// NativeAOT binaries installed, its group document and archives served by nginx: install,
/// update, stop, start and removal, with every hook in order and its environment, as the app's
/// user; and each way a new release can fail, ending back on the previous release.
/// </summary>
public sealed class DeployLifecycleTests
{
    private static string Step(string line) => line.Split(' ')[0];

    private static string Field(string line, string key) =>
        line.Split(' ').Single(p => p.StartsWith(key + "=", StringComparison.Ordinal))[(key.Length + 1)..];

    [Fact]
    public void AnAppIsInstalledUpdatedStoppedStartedAndRemovedWithEveryHookInOrderAsItsUser()
    {
        using var host = new DeployHost();
        var releases = host.Releases;

        host.Deploy("1.0.0", "--user", "nobody");
        host.WaitForApp(a => DeployHost.On(a, "1.0.0"), "running 1.0.0");
        Assert.Equal((200, "hello from hello 1.0.0: -\n"), host.Get("/"));
        var install = host.TakeHookLines();
        Assert.Equal(["pre_install", "post_install", "pre_start", "post_start"], install.Select(Step));
        Assert.All(install, l => Assert.Equal(("1.0.0", "", "1.0.0", "default", "nobody", "hello"),
            (Field(l, "version"), Field(l, "previous"), Field(l, "target"), Field(l, "group"), Field(l, "user"), Field(l, "app"))));
        Assert.Equal(Path.Combine(releases, ".incoming-1.0.0"), Field(install[0], "dir"));
        Assert.All(install.Skip(1), l => Assert.Equal(Path.Combine(releases, "1.0.0"), Field(l, "dir")));
        Assert.Equal("65534", Uid(host.AppPid()));

        host.Deploy("1.1.0", "--user", "nobody");
        var app = host.WaitForApp(a => DeployHost.On(a, "1.1.0"), "running 1.1.0");
        Assert.Equal("1.0.0", DeployHost.Str(app, "previous"));
        Assert.Equal((200, "hello from hello 1.1.0: -\n"), host.Get("/"));
        var update = host.TakeHookLines();
        Assert.Equal(["pre_install", "post_install", "pre_stop", "post_stop", "pre_start", "post_start"], update.Select(Step));
        Assert.Equal(["1.1.0", "1.1.0", "1.0.0", "1.0.0", "1.1.0", "1.1.0"], update.Select(l => Field(l, "version")));
        Assert.All(update, l => Assert.Equal(("1.0.0", "1.1.0", "nobody"), (Field(l, "previous"), Field(l, "target"), Field(l, "user"))));
        Assert.Equal(["1.0.0", "1.1.0"], host.ReleaseFolders());

        host.Deploy("1.1.0", "--user", "nobody", "--state", "stopped");
        app = host.WaitForApp(a => DeployHost.Str(a, "state") == "stopped", "stopped");
        Assert.Null(DeployHost.Str(app, "running"));
        Assert.Equal(0, host.Get("/").Status);
        Assert.Equal(["pre_stop", "post_stop"], host.TakeHookLines().Select(Step));

        host.Deploy("1.1.0", "--user", "nobody", "--state", "running");
        host.WaitForApp(a => DeployHost.On(a, "1.1.0"), "running 1.1.0 again");
        Assert.Equal(200, host.Get("/health").Status);
        Assert.Equal(["pre_start", "post_start"], host.TakeHookLines().Select(Step));

        host.Deploy("1.1.0", "--user", "nobody", "--state", "absent");
        app = host.WaitForApp(a => DeployHost.Str(a, "state") == "absent", "absent");
        Assert.Null(DeployHost.Str(app, "current"));
        Assert.Equal(0, host.Get("/").Status);
        var removal = host.TakeHookLines();
        Assert.Equal(["pre_stop", "post_stop", "uninstall"], removal.Select(Step));
        Assert.All(removal, l => Assert.Equal("1.1.0", Field(l, "version")));
        Assert.False(Directory.Exists(releases), $"{releases} is still there: {string.Join(", ", host.ReleaseFolders())}");

        var history = host.Belay("apps", "history", DeployHost.App, "--json");
        Assert.True(history.ExitCode == 0, history.ToString());
        using var doc = JsonDocument.Parse(history.StdOut);
        Assert.Equal(["install", "install", "stop", "start", "remove"], doc.RootElement.EnumerateArray().Select(r => r.GetProperty("kind").GetString()));
        Assert.All(doc.RootElement.EnumerateArray(), r => Assert.Equal("ok", r.GetProperty("result").GetString()));
        var text = host.Belay("apps").StdOut;
        Assert.Contains("hello: absent", text, StringComparison.Ordinal);
        var log = host.Belay("logs", DeployHost.App, "--deploy", "-n", "200");
        Assert.True(log.ExitCode == 0, log.ToString());
        Assert.Contains("uninstall app=hello version=1.1.0", log.StdOut, StringComparison.Ordinal);
    }

    public static TheoryData<string> Failures => new("post_install", "pre_start", "exec", "health");

    [Theory]
    [MemberData(nameof(Failures))]
    public void AFailingReleaseEndsOnThePreviousOneHealthyWithItsStepExitCodeAndOutputAndIsNotRetried(string failing)
    {
        using var host = new DeployHost();
        host.Deploy("1.0.0");
        host.WaitForApp(a => DeployHost.On(a, "1.0.0"), "running 1.0.0");
        var pid = host.AppPid();
        var child = Path.Combine(host.Scratch, "hang.child");

        var (exitCode, output, result) = failing switch
        {
            "post_install" => (4, "migration failed: table locked", "failed"),
            "pre_start" => (137, "waiting forever", "rolled-back"),
            "exec" => (3, "CRASH=start, exiting with code 3", "rolled-back"),
            _ => ((int?)null, "answered 503", "rolled-back"),
        };
        host.Package("1.1.0", dir =>
        {
            var conf = Path.Combine(dir, "belay-app.conf");
            var text = File.ReadAllText(conf);
            switch (failing)
            {
                case "post_install":
                    Script(dir, "fail.sh", "echo 'migration failed: table locked'\nexit 4");
                    text = text.Replace("post_install = hooks/record.sh", "post_install = hooks/fail.sh", StringComparison.Ordinal);
                    break;
                case "pre_start":
                    // A hook that hangs, with a child in its process group: the timeout must take both.
                    Script(dir, "hang.sh", $"echo 'waiting forever'\nsleep 300 &\necho $! > {child}\nwait");
                    text = text.Replace("pre_start = hooks/record.sh", "pre_start = hooks/hang.sh\npre_start_timeout = 1s", StringComparison.Ordinal);
                    break;
                case "exec":
                    text = text.Replace("[app]\n", "[app]\nenvironment = CRASH=start\n", StringComparison.Ordinal);
                    break;
                default:
                    text = text.Replace("[app]\n", "[app]\nenvironment = HEALTH=fail\n", StringComparison.Ordinal)
                        .Replace("deadline = 10s", "deadline = 3s", StringComparison.Ordinal);
                    break;
            }
            File.WriteAllText(conf, text);
        });
        host.Deploy("1.1.0");
        var app = host.WaitForApp(a => DeployHost.LastResult(a) is "failed" or "rolled-back", "back from 1.1.0");

        var last = app.GetProperty("lastDeploy");
        Assert.Equal((result, failing, "1.1.0"), (last.GetProperty("result").GetString(), last.GetProperty("step").GetString(), last.GetProperty("version").GetString()));
        Assert.Equal(exitCode, last.GetProperty("exitCode").ValueKind == JsonValueKind.Number ? last.GetProperty("exitCode").GetInt32() : null);
        Assert.Contains(output, last.GetProperty("output").GetString(), StringComparison.Ordinal);
        Assert.Equal(["1.1.0"], app.GetProperty("bad").EnumerateArray().Select(b => b.GetString()));
        Assert.Equal("failed", DeployHost.Str(app, "state"));
        Assert.Equal(("1.0.0", "1.0.0"), (DeployHost.Str(app, "running"), DeployHost.Str(app, "current")));
        Assert.Equal((200, "hello from hello 1.0.0: -\n"), host.Get("/"));
        if (failing == "post_install")
        {
            Assert.Equal(pid, host.AppPid()); // nothing of 1.0.0 was touched before the stop
        }
        if (failing == "pre_start")
        {
            var orphan = int.Parse(File.ReadAllText(child).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.False(Directory.Exists($"/proc/{orphan}"), $"the hook's child {orphan} outlived its timeout");
        }
        Assert.Equal(["1.0.0"], host.ReleaseFolders());
        Assert.Contains($"{result} at {failing}", host.Belay("apps").StdOut, StringComparison.Ordinal);

        // Not retried, however often the same desired state is signed again.
        var deploys = History(host);
        host.TakeHookLines();
        host.Deploy("1.1.0");
        Thread.Sleep(TimeSpan.FromSeconds(4));
        Assert.Equal(deploys, History(host));
        Assert.DoesNotContain(host.TakeHookLines(), l => Field(l, "version") == "1.1.0");

        host.Deploy("1.2.0");
        app = host.WaitForApp(a => DeployHost.On(a, "1.2.0"), "running 1.2.0");
        Assert.Empty(app.GetProperty("bad").EnumerateArray());
        Assert.Equal((200, "hello from hello 1.2.0: -\n"), host.Get("/"));
    }

    [Fact]
    public void ABrokenPreStopOfTheOldReleaseIsLoggedAndDoesNotBlockTheNewOne()
    {
        using var host = new DeployHost();
        host.Package("1.0.0", dir =>
        {
            Script(dir, "fail.sh", "echo 'cannot drain: load balancer unreachable'\nexit 9");
            var conf = Path.Combine(dir, "belay-app.conf");
            File.WriteAllText(conf, File.ReadAllText(conf).Replace("pre_stop = hooks/record.sh", "pre_stop = hooks/fail.sh", StringComparison.Ordinal));
        });
        host.Deploy("1.0.0");
        host.WaitForApp(a => DeployHost.On(a, "1.0.0"), "running 1.0.0");
        host.Deploy("1.1.0");
        var app = host.WaitForApp(a => DeployHost.On(a, "1.1.0"), "running 1.1.0");
        Assert.Equal("ok", DeployHost.LastResult(app));
        Assert.Equal((200, "hello from hello 1.1.0: -\n"), host.Get("/"));
        var log = File.ReadAllText(host.DeployLog);
        Assert.Contains("cannot drain: load balancer unreachable", log, StringComparison.Ordinal);
        Assert.Contains("pre_stop exited with code 9 (hello 1.0.0); going on", log, StringComparison.Ordinal);
    }

    private static int History(DeployHost host)
    {
        var result = host.Belay("apps", "history", DeployHost.App, "--json");
        using var doc = JsonDocument.Parse(result.StdOut);
        return doc.RootElement.GetArrayLength();
    }

    private static void Script(string releaseDir, string name, string body)
    {
        var path = Path.Combine(releaseDir, "hooks", name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
    }

    private static string Uid(int pid) =>
        File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1];
}
