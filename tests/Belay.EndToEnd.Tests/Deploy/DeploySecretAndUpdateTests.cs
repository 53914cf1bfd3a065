using Belay.EndToEnd.Tests.Install;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Deploy;

/// <summary>
/// A secret of the group document reaches the app's environment and its hooks' and nothing
/// else; and the agent's own update, asked for in the middle of a deploy, neither stops nor
/// restarts the app.
/// </summary>
public sealed class DeploySecretAndUpdateTests
{
    [Fact]
    public void ASecretReachesTheAppsEnvironmentAndNoLogStatusReportOrStateFile()
    {
        using var host = new DeployHost(withIdentity: true);
        var secret = "pw-" + Guid.NewGuid().ToString("N");
        var file = Path.Combine(host.Workspace.Root, "db-password");
        File.WriteAllText(file, secret + "\n");
        // A hook that prints the secret: its output is redacted before it is logged or kept.
        host.Package("1.0.0", dir =>
        {
            var leak = Path.Combine(dir, "hooks", "leak.sh");
            File.WriteAllText(leak, "#!/bin/sh\necho \"the password is $DB_PASSWORD\"\n");
            File.SetUnixFileMode(leak, (UnixFileMode)0b111_101_101);
            var conf = Path.Combine(dir, "belay-app.conf");
            File.WriteAllText(conf, File.ReadAllText(conf).Replace("post_install = hooks/record.sh", "post_install = hooks/leak.sh", StringComparison.Ordinal));
        });
        host.Deploy("1.0.0", "--secret", $"DB_PASSWORD=@{file}", "--recipient", host.Recipient!);
        host.WaitForApp(a => DeployHost.On(a, "1.0.0"), "running 1.0.0");

        var environ = File.ReadAllText($"/proc/{host.AppPid()}/environ").Split('\0');
        Assert.Contains($"DB_PASSWORD={secret}", environ);
        Assert.Contains("the password is ***", File.ReadAllText(host.DeployLog), StringComparison.Ordinal);

        var outputs = new[]
        {
            host.Belay("status", "--json"), host.Belay("status"), host.Belay("apps", "--json"), host.Belay("apps"),
            host.Belay("apps", "history", DeployHost.App, "--json"), host.Belay("logs", DeployHost.App, "--deploy", "-n", "1000"),
            host.Belay("logs", DeployHost.App, "-n", "1000"), host.Belay("logs", "-n", "1000"),
        };
        foreach (var output in outputs)
        {
            Assert.True(output.ExitCode == 0, output.ToString());
            Assert.DoesNotContain(secret, output.StdOut + output.StdErr, StringComparison.Ordinal);
        }
        // grep, as an operator would: every file of the installation and of the feed (pipes and sockets skipped).
        var identity = Path.Combine(host.Prefix, "etc", "group-identity");
        var grep = ExternalTool.Run("grep", ["-rlF", "-D", "skip", "--exclude=group-identity", "--", secret, host.Prefix, host.Workspace.Feed]);
        Assert.True(grep.ExitCode == 1, $"grep found the secret (exit {grep.ExitCode}) in: {grep.StdOut}{grep.StdErr}");
        // The same grep finds it where it is meant to be: the publisher's own file.
        Assert.Equal(0, ExternalTool.Run("grep", ["-rlF", "-D", "skip", "--", secret, file]).ExitCode);
        Assert.Equal("600", Convert.ToString((int)File.GetUnixFileMode(identity), 8));
    }

    [Fact]
    public void TheAgentsOwnUpdateDuringADeployAndItsRollbackNeitherStopNorRestartTheApp()
    {
        using var host = new DeployHost();
        host.Deploy("1.0.0");
        host.WaitForApp(a => DeployHost.On(a, "1.0.0"), "running 1.0.0");

        // Hold the update of the app after its exec: the new release runs, the deploy is in progress.
        host.Hold("post_start", "1.1.0");
        host.Deploy("1.1.0");
        host.WaitForApp(a => DeployHost.Str(a, "step") == "post_start" && DeployHost.Str(a, "running") == "1.1.0", "at post_start of 1.1.0");
        var pid = host.AppPid();
        var agent = host.AgentPid();

        host.Host.PublishAgentCopy("1.0.1");
        // The agent sees its update and waits for the deploy (a handover mid-hook would fail it).
        Thread.Sleep(TimeSpan.FromSeconds(3));
        Assert.Equal(agent, host.AgentPid());
        Assert.Contains("waiting for the deploy in progress to end", host.ReadAgentLog(), StringComparison.Ordinal);
        host.Release("post_start", "1.1.0");

        host.Host.WaitFor(s => InstalledHost.On(s, "1.0.1"), TimeSpan.FromSeconds(60), "on agent 1.0.1");
        var app = host.WaitForApp(a => DeployHost.On(a, "1.1.0"), "running 1.1.0");
        Assert.Equal(pid, host.AppPid());
        Assert.Equal(0, app.GetProperty("restarts").GetInt32());
        Assert.Equal((200, "hello from hello 1.1.0: -\n"), host.Get("/"));

        // And an agent update with no deploy in progress: same pid throughout.
        host.Host.PublishAgentCopy("1.0.2");
        host.Host.WaitFor(s => InstalledHost.On(s, "1.0.2"), TimeSpan.FromSeconds(60), "on agent 1.0.2");
        host.WaitForApp(a => DeployHost.On(a, "1.1.0"), "still running 1.1.0");
        Assert.Equal(pid, host.AppPid());

        // And a broken agent release that the keeper rolls back: the app runs on, untouched.
        host.Host.PublishScript("1.0.3", "echo 'broken build' >&2\nexit 1");
        host.Host.WaitFor(s => InstalledHost.Bad(s).Contains("1.0.3") && InstalledHost.On(s, "1.0.2"), TimeSpan.FromSeconds(90), "rolled back from 1.0.3");
        app = host.WaitForApp(a => DeployHost.On(a, "1.1.0"), "still running 1.1.0 after the rollback");
        Assert.Equal(pid, host.AppPid());
        Assert.Equal(0, app.GetProperty("restarts").GetInt32());
        Assert.Equal((200, "hello from hello 1.1.0: -\n"), host.Get("/"));
    }
}
