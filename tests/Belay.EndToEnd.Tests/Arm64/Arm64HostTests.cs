using System.Globalization;
using Belay.EndToEnd.Tests.Install;
using Belay.EndToEnd.Tests.Programs;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Arm64;

/// <summary>
/// An installed host running the linux-arm64 build under qemu-user (<see cref="Arm64Emulation"/>):
/// the keeper, the agent and a supervised program are arm64 processes; a program survives agent
/// updates, and the trust checks refuse a tampered artifact and a replayed manifest as on x64.
/// </summary>
public sealed class Arm64HostTests
{
    // Generous: under emulation on a loaded machine an agent has been seen to take 15 s to start.
    private static readonly TimeSpan Switch = TimeSpan.FromMinutes(4);

    [Fact]
    public void AProgramRunsOnThroughAgentUpdatesAndLosesNoLogLine()
    {
        const int updates = 2;
        // The program is the arm64 BusyBox's shell too: keeper, agent and program all run as arm64.
        using var host = new ProgramsHost($$"""
            [program:counter]
            command = {{Arm64Emulation.BusyBox}} sh -c 'i=0; while :; do i=$((i+1)); echo "$i"; sleep 0.05; done'
            """, BelayBuild.LinuxArm64);
        var first = host.WaitForProgram("counter", p => ProgramsHost.State(p) == "running", Switch, "running");
        var pid = ProgramsHost.Pid(first);
        var status = host.Host.Status();
        foreach (var (role, rolePid) in new[]
        {
            ("keeper", status.GetProperty("keeper").GetProperty("pid").GetInt32()),
            ("agent", status.GetProperty("agent").GetProperty("pid").GetInt32()),
            ("program", pid),
        })
        {
            Assert.True(Arm64Emulation.RunsAsArm64(rolePid), $"the {role} (pid {rolePid}) runs {Arm64Emulation.ExecutableOf(rolePid)}, not qemu-aarch64");
        }

        for (var u = 1; u <= updates; u++)
        {
            var version = $"1.0.{u}";
            host.Host.PublishAgent(version);
            var after = host.Host.WaitFor(s => InstalledHost.On(s, version), Switch, $"on {version}");
            var program = ProgramsHost.Program(after, "counter");
            Assert.True(ProgramsHost.Pid(program) == pid, $"after the update to {version} the program has pid {ProgramsHost.Pid(program)}, not {pid}\n{host.ReadAgentLog()}");
            var agent = after.GetProperty("agent").GetProperty("pid").GetInt32();
            Assert.True(Arm64Emulation.RunsAsArm64(agent), $"the agent {version} (pid {agent}) is not an arm64 process");
        }
        var last = host.Program("counter");
        Assert.Equal("running", ProgramsHost.State(last));
        Assert.Equal(pid, ProgramsHost.Pid(last));
        Assert.Equal(0, last.GetProperty("restarts").GetInt32());

        var numbers = host.ReadProgramLog("counter").Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => long.Parse(l, CultureInfo.InvariantCulture)).ToList();
        Assert.True(numbers.Count > 10, $"only {numbers.Count} lines");
        for (var i = 0; i < numbers.Count; i++)
        {
            Assert.True(numbers[i] == i + 1, $"line {i + 1} of the log is {numbers[i]}: lines lost or doubled");
        }
    }

    [Fact]
    public void ATamperedArtifactIsRefusedWithExit3AndNothingIsInstalled()
    {
        using var host = new InstalledHost(BelayBuild.LinuxArm64);
        host.PublishAgent("1.0.0");
        // The file belay downloads: the compact form (.tar.a64.br on ARM64).
        var artifact = Path.Combine(host.Workspace.Feed, "agent", "1.0.0", "belay-agent-1.0.0-linux-arm64.tar.a64.br");
        var bytes = File.ReadAllBytes(artifact);
        bytes[bytes.Length / 2] ^= 0x55;
        File.WriteAllBytes(artifact, bytes);

        var result = host.Install();
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("SHA-256", result.StdErr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(host.Prefix), $"{host.Prefix} exists after a refused install");
    }

    [Fact]
    public void AReplayedOlderManifestIsRefusedByBelayAndByTheRunningAgent()
    {
        using var host = new InstalledHost(BelayBuild.LinuxArm64);
        host.PublishAgent("1.0.0");
        var channel = Path.Combine(host.Workspace.Feed, "channels");
        var old = Path.Combine(host.Workspace.Root, "old-channel");
        Directory.CreateDirectory(old);
        foreach (var f in Directory.GetFiles(channel))
        {
            File.Copy(f, Path.Combine(old, Path.GetFileName(f)));
        }
        host.PublishAgent("2.0.0");
        var install = host.Install();
        Assert.True(install.ExitCode == 0, install + host.ReadLog());
        host.WaitFor(s => s.GetProperty("sequence").GetInt64() == 2, Switch, "at sequence 2");

        // A mirror (or an attacker) serves the older, validly signed manifest again.
        foreach (var f in Directory.GetFiles(old))
        {
            File.Copy(f, Path.Combine(channel, Path.GetFileName(f)), overwrite: true);
        }
        var state = Path.Combine(host.Prefix, "var", "state.json");
        var before = File.ReadAllText(state);
        var check = host.Run("update", "--check", "--prefix", host.Prefix, "--scope", "user");
        Assert.Equal(3, check.ExitCode);
        Assert.Contains("lower than 2 already seen", check.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllText(state));

        // The arm64 agent polling the feed refuses it too, and stays where it was.
        var status = host.WaitFor(s => s.GetProperty("lastCheck").GetProperty("result").GetString() == "error", Switch, "refusing the replay");
        Assert.Equal(2, status.GetProperty("sequence").GetInt64());
        Assert.Contains("lower than 2", status.GetProperty("lastCheck").GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.True(InstalledHost.On(status, "2.0.0"), status.ToString());
        var agent = status.GetProperty("agent").GetProperty("pid").GetInt32();
        Assert.True(Arm64Emulation.RunsAsArm64(agent), $"the agent (pid {agent}) is not an arm64 process");
    }
}
