using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Programs;

/// <summary>
/// A stop of the service (SIGTERM to the keeper, as a service manager and a reboot send it) stops
/// the programs, and its next start brings them back; only an operator's `belay stop` keeps a
/// program down across it. The none manager here; SystemdTests does the same under a real systemd.
/// </summary>
public sealed class ServiceRestartTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public void ProgramsComeBackWhenTheServiceStartsAgainAndOnlyAnOperatorStopHolds()
    {
        using var host = new ProgramsHost("""
            [program:web]
            command = sleep 1000

            [program:held]
            command = sleep 1001

            [program:manual]
            command = sleep 1002
            autostart = false
            """);
        var web = ProgramsHost.Pid(host.WaitForProgram("web", p => ProgramsHost.State(p) == "running", Wait, "running"));
        host.WaitForProgram("held", p => ProgramsHost.State(p) == "running", Wait, "running");
        var stopHeld = host.Belay("stop", "held");
        Assert.True(stopHeld.ExitCode == 0, stopHeld.ToString());

        for (var round = 1; round <= 2; round++)
        {
            var stop = host.Belay("service", "stop");
            Assert.True(stop.ExitCode == 0, stop.ToString());
            Assert.False(ExternalTool.IsRunning(web), $"round {round}: web (pid {web}) still runs after the service stopped");
            var start = host.Belay("service", "start");
            Assert.True(start.ExitCode == 0, start.ToString());
            var back = host.WaitForProgram("web", p => ProgramsHost.State(p) == "running" && ProgramsHost.Pid(p) != web, Wait,
                $"started again by the service's start (round {round})");
            web = ProgramsHost.Pid(back);
            Assert.Equal("stopped", ProgramsHost.State(host.Program("held")));
            Assert.Equal("stopped", ProgramsHost.State(host.Program("manual")));
        }

        // The operator's stop holds until the operator's start.
        var startHeld = host.Belay("start", "held");
        Assert.True(startHeld.ExitCode == 0, startHeld.ToString());
        host.WaitForProgram("held", p => ProgramsHost.State(p) == "running", Wait, "running after belay start");
    }
}
