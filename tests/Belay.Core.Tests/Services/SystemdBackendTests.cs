using Belay.Core.Install;
using Belay.Core.Services;
using Belay.TestSupport;

namespace Belay.Core.Tests.Services;

/// <summary>The systemctl command lines, in order, that each operation runs (a real systemd runs them in the end-to-end tests).</summary>
public sealed class SystemdBackendTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly FakeProcessRunner _runner = new();

    public void Dispose() => _dir.Dispose();

    private string UnitPath => _dir.Combine("systemd", "system", "belay.service");

    private SystemdBackend Backend() => new(_runner, UnitPath);

    private static ServiceDefinition Definition(InstallScope scope = InstallScope.System, string config = "/etc/belay/config.json") =>
        SystemdUnitTests.SystemDefinition() with
        {
            Scope = scope,
            CommandLine = ["/opt/belay/bin/belay", "run", "--config", config],
        };

    [Fact]
    public void AFreshInstallWritesTheUnitReloadsAndEnablesItNow()
    {
        Backend().Install(Definition(), start: true);

        Assert.Equal(["systemctl daemon-reload", "systemctl enable --now belay.service"], _runner.Commands);
        Assert.Equal(SystemdUnit.Render(Definition()), File.ReadAllText(UnitPath));
        Assert.Equal(SystemdUnit.FileMode, File.GetUnixFileMode(UnitPath));
    }

    [Fact]
    public void WithoutStartTheUnitIsOnlyEnabledForTheNextBoot()
    {
        Backend().Install(Definition(), start: false);

        Assert.Equal(["systemctl daemon-reload", "systemctl enable belay.service"], _runner.Commands);
    }

    [Fact]
    public void ReinstallingTheSameUnitNeitherReloadsNorRestarts()
    {
        Backend().Install(Definition(), start: true);
        _runner.Commands.Clear();

        Backend().Install(Definition(), start: true);

        Assert.Equal(["systemctl enable --now belay.service"], _runner.Commands);
    }

    [Fact]
    public void AChangedUnitOfARunningServiceIsReloadedAndRestarted()
    {
        Backend().Install(Definition(), start: true);
        _runner.Commands.Clear();

        Backend().Install(Definition(config: "/etc/belay/other.json"), start: true);

        Assert.Equal([
            "systemctl daemon-reload",
            "systemctl is-active --quiet belay.service",
            "systemctl enable belay.service",
            "systemctl restart belay.service",
        ], _runner.Commands);
        Assert.Contains("--config /etc/belay/other.json", File.ReadAllText(UnitPath), StringComparison.Ordinal);
    }

    [Fact]
    public void AChangedUnitOfAStoppedServiceIsStartedOnce()
    {
        Backend().Install(Definition(), start: true);
        _runner.Commands.Clear();
        _runner.When("systemctl is-active", 3);

        Backend().Install(Definition(config: "/etc/belay/other.json"), start: true);

        Assert.Equal([
            "systemctl daemon-reload",
            "systemctl is-active --quiet belay.service",
            "systemctl enable --now belay.service",
        ], _runner.Commands);
    }

    [Fact]
    public void AUserInstallTalksToTheUserManager()
    {
        Backend().Install(Definition(InstallScope.User) with { Scope = InstallScope.User }, start: true);

        Assert.Equal(["systemctl --user daemon-reload", "systemctl --user enable --now belay.service"], _runner.Commands);
    }

    [Fact]
    public void UninstallDisablesStopsRemovesAndReloads()
    {
        Backend().Install(Definition(), start: true);
        _runner.Commands.Clear();

        Assert.True(Backend().Uninstall(Definition()));

        Assert.Equal([
            "systemctl disable --now belay.service",
            "systemctl daemon-reload",
            "systemctl reset-failed belay.service",
        ], _runner.Commands);
        Assert.False(File.Exists(UnitPath));
    }

    [Fact]
    public void UninstallingWhatIsNotInstalledRunsNothing()
    {
        Assert.False(Backend().Uninstall(Definition()));
        Assert.Empty(_runner.Commands);
    }

    [Theory]
    [InlineData("start")]
    [InlineData("stop")]
    [InlineData("restart")]
    public void ControllingAServiceThatIsNotInstalledSaysSo(string verb)
    {
        Action act = verb switch
        {
            "start" => () => Backend().Start(Definition()),
            "stop" => () => Backend().Stop(Definition()),
            _ => () => Backend().Restart(Definition()),
        };

        var e = Assert.Throws<BelayException>(act);

        Assert.Contains("belay.service is not installed", e.Message, StringComparison.Ordinal);
        Assert.Contains("belay install --service-manager systemd", e.Message, StringComparison.Ordinal);
        Assert.Empty(_runner.Commands);
    }

    [Fact]
    public void ControllingAnInstalledServiceRunsSystemctl()
    {
        Backend().Install(Definition(), start: true);
        _runner.Commands.Clear();

        Backend().Stop(Definition());
        Backend().Start(Definition());
        Backend().Restart(Definition());

        Assert.Equal(["systemctl stop belay.service", "systemctl start belay.service", "systemctl restart belay.service"], _runner.Commands);
    }

    [Fact]
    public void APermissionRefusalExitsWithNeedsPrivileges()
    {
        _runner.When("systemctl daemon-reload", 1, stderr: "Failed to reload daemon: Access denied\n");

        var e = Assert.Throws<BelayException>(() => Backend().Install(Definition(), start: true));

        Assert.Equal(ExitCodes.NeedsPrivileges, e.ExitCode);
        Assert.Contains("systemctl daemon-reload was refused: Failed to reload daemon: Access denied", e.Message, StringComparison.Ordinal);
        Assert.Contains("sudo", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFailedStartNamesTheCommandWhatItSaidAndWhereToLook()
    {
        _runner.When("systemctl enable --now", 1, stderr: "Job for belay.service failed because the control process exited with error code.\n");

        var e = Assert.Throws<BelayException>(() => Backend().Install(Definition(), start: true));

        Assert.Equal(ExitCodes.Error, e.ExitCode);
        Assert.Contains("systemctl enable --now belay.service failed (exit 1): Job for belay.service failed", e.Message, StringComparison.Ordinal);
        Assert.Contains("journalctl -u belay.service", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NoUserManagerIsExplained()
    {
        _runner.When("systemctl --user", 1, stderr: "Failed to connect to bus: No medium found\n");

        var e = Assert.Throws<BelayException>(() => Backend().Install(Definition() with { Scope = InstallScope.User }, start: true));

        Assert.Contains("could not reach systemd", e.Message, StringComparison.Ordinal);
        Assert.Contains("--service-manager none", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StatusReadsSystemctlShow()
    {
        Backend().Install(Definition(), start: true);
        _runner.When("systemctl show", 0, "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=4242\n");

        var status = Backend().Status(Definition());

        Assert.Equal(new ServiceStatus(true, true, "active (running)",
            "main pid 4242; systemctl status belay.service; journalctl -u belay.service"), status);
    }

    [Fact]
    public void StatusOfAMissingUnitIsNotInstalled()
    {
        _runner.When("systemctl show", 0, "LoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\n");

        var status = Backend().Status(Definition());

        Assert.False(status.Installed);
        Assert.False(status.Running);
        Assert.Equal("not installed", status.State);
    }

    [Fact]
    public void StatusOfAFailedUnit()
    {
        _runner.When("systemctl show", 0, "LoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\n");

        var status = Backend().Status(Definition());

        Assert.True(status.Installed);
        Assert.False(status.Running);
        Assert.Equal("failed (failed)", status.State);
    }
}
