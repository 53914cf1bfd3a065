using Belay.Core.Install;
using Belay.Core.Services;
using Belay.TestSupport;

namespace Belay.Core.Tests.Services;

/// <summary>
/// The SMF backend against fake svcs/svccfg/svcadm: the exact command lines in order, the
/// manifest on disk and its mode, and what the tools' answers become. Not run on illumos.
/// </summary>
public sealed class SmfBackendTests : IDisposable
{
    private const string Fmri = "svc:/application/belay/agent:default";
    private const string Svcs = "svcs -H -o state " + Fmri;
    private const string NoSuchInstance = "svcs: Pattern '" + Fmri + "' doesn't match any instances\n";

    private readonly TempDir _dir = new("belay-smf-");
    private readonly FakeProcessRunner _tools = new();

    public void Dispose() => _dir.Dispose();

    private string ManifestPath => _dir.Combine("manifest", "application", "belay.xml");

    private static ServiceDefinition Definition() => new()
    {
        CommandLine = ["/opt/belay/bin/belay", "run", "--config", "/etc/opt/belay/config.json"],
        WorkingDirectory = "/var/opt/belay",
        StdoutLog = "/var/log/opt/belay/keeper.log",
        StderrLog = "/var/log/opt/belay/keeper.log",
    };

    private SmfBackend Backend() => new(_tools, ManifestPath);

    private void State(string? state) =>
        _tools.When("svcs -H -o state", state is null ? 1 : 0, state is null ? "" : state + "\n", state is null ? NoSuchInstance : "");

    private string[] Import => [Svcs, $"svccfg validate {ManifestPath}", $"svccfg import {ManifestPath}"];

    [Fact]
    public void AFreshInstallWritesTheManifest0444ValidatesImportsAndEnables()
    {
        State(null);

        Backend().Install(Definition(), start: true);

        Assert.Equal([.. Import, $"svcadm enable -s {Fmri}"], _tools.Commands);
        Assert.Equal(SmfManifest.Render(Definition()), File.ReadAllText(ManifestPath));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal((UnixFileMode)Convert.ToInt32("444", 8), File.GetUnixFileMode(ManifestPath));
        }
    }

    [Fact]
    public void InstallingOverAnOnlineInstanceReplacesTheManifestAndRestartsIt()
    {
        State(null);
        Backend().Install(Definition(), start: true);
        _tools.Commands.Clear();
        State("online");

        Backend().Install(Definition() with { StopTimeoutSeconds = 45 }, start: true);

        Assert.Equal([.. Import, $"svcadm restart {Fmri}"], _tools.Commands);
        Assert.Contains("timeout_seconds=\"45\"", File.ReadAllText(ManifestPath), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(SmfManifest.FileMode, File.GetUnixFileMode(ManifestPath));
        }
    }

    [Fact]
    public void InstallingOverAnInstanceInMaintenanceClearsItThenEnables()
    {
        State("maintenance");

        Backend().Install(Definition(), start: true);

        Assert.Equal([.. Import, $"svcadm clear {Fmri}", $"svcadm enable -s {Fmri}"], _tools.Commands);
    }

    [Theory]
    [InlineData("disabled")]
    [InlineData("offline")]
    public void InstallingOverAnInstanceThatIsNotRunningEnablesIt(string state)
    {
        State(state);

        Backend().Install(Definition(), start: true);

        Assert.Equal([.. Import, $"svcadm enable -s {Fmri}"], _tools.Commands);
    }

    [Fact]
    public void InstallWithoutStartImportsOnly()
    {
        State(null);

        Backend().Install(Definition(), start: false);

        Assert.Equal(Import, _tools.Commands);
        Assert.True(File.Exists(ManifestPath));
    }

    [Fact]
    public void UninstallDisablesDeletesTheServiceAndRemovesTheManifest()
    {
        State(null);
        Backend().Install(Definition(), start: true);
        _tools.Commands.Clear();
        State("online");

        Assert.True(Backend().Uninstall(Definition()));

        Assert.Equal([Svcs, $"svcadm disable -s {Fmri}", "svccfg delete svc:/application/belay/agent"], _tools.Commands);
        Assert.False(File.Exists(ManifestPath));
    }

    [Fact]
    public void UninstallOfWhatIsNotInstalledReturnsFalse()
    {
        State(null);

        Assert.False(Backend().Uninstall(Definition()));

        Assert.Equal([Svcs], _tools.Commands);
    }

    [Fact]
    public void UninstallOfAManifestThatWasNeverImportedRemovesTheFileOnly()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(ManifestPath)!);
        File.WriteAllText(ManifestPath, "<service_bundle/>");
        State(null);

        Assert.True(Backend().Uninstall(Definition()));

        Assert.Equal([Svcs], _tools.Commands);
        Assert.False(File.Exists(ManifestPath));
    }

    [Theory]
    [InlineData("start")]
    [InlineData("stop")]
    [InlineData("restart")]
    public void StartStopAndRestartOfAMissingServiceSayItIsNotInstalled(string verb)
    {
        State(null);
        var backend = Backend();
        Action act = verb switch
        {
            "start" => () => backend.Start(Definition()),
            "stop" => () => backend.Stop(Definition()),
            _ => () => backend.Restart(Definition()),
        };

        var e = Assert.Throws<BelayException>(act);

        Assert.Equal(ExitCodes.Error, e.ExitCode);
        Assert.Contains($"cannot {verb} the keeper", e.Message, StringComparison.Ordinal);
        Assert.Contains("not installed", e.Message, StringComparison.Ordinal);
        Assert.Contains("belay install --service-manager smf", e.Message, StringComparison.Ordinal);
        Assert.Equal([Svcs], _tools.Commands);
    }

    [Fact]
    public void StartStopAndRestartUseSvcadm()
    {
        State("maintenance");
        Backend().Start(Definition());
        Assert.Equal([Svcs, $"svcadm clear {Fmri}", $"svcadm enable -s {Fmri}"], _tools.Commands);

        _tools.Commands.Clear();
        State("online");
        Backend().Stop(Definition());
        Backend().Restart(Definition());
        Assert.Equal([Svcs, $"svcadm disable -s -t {Fmri}", Svcs, $"svcadm restart {Fmri}"], _tools.Commands);

        _tools.Commands.Clear();
        State("disabled");
        Backend().Restart(Definition());
        Backend().Start(Definition());
        Assert.Equal([Svcs, $"svcadm enable -s {Fmri}", Svcs, $"svcadm enable -s {Fmri}"], _tools.Commands);
    }

    [Fact]
    public void PermissionDeniedOnImportNeedsPrivileges()
    {
        State(null);
        _tools.When("svccfg import", 1, stderr: "svccfg: Permission denied.\n");

        var e = Assert.Throws<BelayException>(() => Backend().Install(Definition(), start: true));

        Assert.Equal(ExitCodes.NeedsPrivileges, e.ExitCode);
        Assert.Equal(5, e.ExitCode);
        Assert.Contains($"svccfg import {ManifestPath} was refused", e.Message, StringComparison.Ordinal);
        Assert.Contains("Permission denied", e.Message, StringComparison.Ordinal);
        Assert.Contains("pfexec", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_tools.Commands, c => c.StartsWith("svcadm", StringComparison.Ordinal));
    }

    [Fact]
    public void PermissionDeniedOnSvcadmNeedsPrivileges()
    {
        State("online");
        _tools.When("svcadm", 1, stderr: $"svcadm: {Fmri}: Permission denied.\n");

        var e = Assert.Throws<BelayException>(() => Backend().Stop(Definition()));

        Assert.Equal(ExitCodes.NeedsPrivileges, e.ExitCode);
        Assert.Contains($"svcadm disable -s -t {Fmri}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AManifestSvccfgRejectsIsReportedWithTheCommandAndItsOutput()
    {
        State(null);
        _tools.When("svccfg validate", 1, stderr: "svccfg: Required property group missing: name: startd\n");

        var e = Assert.Throws<BelayException>(() => Backend().Install(Definition(), start: true));

        Assert.Equal(ExitCodes.Error, e.ExitCode);
        Assert.Contains($"svccfg validate {ManifestPath} failed (exit 1): svccfg: Required property group missing", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_tools.Commands, c => c.StartsWith("svccfg import", StringComparison.Ordinal));
    }

    [Fact]
    public void AnInstanceThatCannotComeOnlinePointsToSvcsXv()
    {
        State(null);
        _tools.When("svcadm enable", 1, stderr: $"svcadm: Instance \"{Fmri}\" has entered the maintenance state.\n");

        var e = Assert.Throws<BelayException>(() => Backend().Install(Definition(), start: true));

        Assert.Contains("maintenance state", e.Message, StringComparison.Ordinal);
        Assert.Contains($"svcs -xv {Fmri}", e.Message, StringComparison.Ordinal);
        Assert.Contains($"svcs -L {Fmri}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ADefinitionSmfCannotCarryIsAUsageErrorAndNothingRuns()
    {
        var e = Assert.Throws<BelayException>(() => Backend().Install(Definition() with { Scope = InstallScope.User }, start: true));
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
        Assert.Empty(_tools.Commands);
        Assert.False(File.Exists(ManifestPath));
    }

    [Fact]
    public void StatusReadsTheStateAndPointsToSvcsXvAndTheLog()
    {
        State("online");
        _tools.When("svcs -L", 0, "/var/svc/log/application-belay-agent:default.log\n");

        var status = Backend().Status(Definition());

        Assert.Equal(
            new ServiceStatus(true, true, "online", $"svcs -xv {Fmri}; SMF log /var/svc/log/application-belay-agent:default.log"),
            status);
        Assert.Equal([Svcs, $"svcs -L {Fmri}"], _tools.Commands);
    }

    [Theory]
    [InlineData("online", true)]
    [InlineData("degraded", true)]
    [InlineData("online*", true)]
    [InlineData("offline", false)]
    [InlineData("offline*", false)]
    [InlineData("maintenance", false)]
    [InlineData("disabled", false)]
    [InlineData("uninitialized", false)]
    public void EveryStateIsReportedAsSvcsPrintsIt(string state, bool running)
    {
        State(state);
        _tools.When("svcs -L", 1, stderr: "svcs: unexpected error\n");

        var status = Backend().Status(Definition());

        Assert.True(status.Installed);
        Assert.Equal(running, status.Running);
        Assert.Equal(state, status.State);
        Assert.EndsWith(SmfBackend.DefaultLogPath, status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void StatusOfWhatIsNotInstalledSaysSo()
    {
        State(null);

        Assert.Equal(new ServiceStatus(false, false, "not installed", "belay install --service-manager smf"), Backend().Status(Definition()));
        Assert.Equal("smf", Backend().Name);
    }

    [Fact]
    public void AnSvcsFailureThatIsNotNotFoundIsReported()
    {
        _tools.When("svcs -H", 1, stderr: "svcs: Could not bind to repository server: repository server unavailable.\n");

        var e = Assert.Throws<BelayException>(() => Backend().Uninstall(Definition()));

        Assert.Contains($"svcs -H -o state {Fmri} failed (exit 1): svcs: Could not bind to repository server", e.Message, StringComparison.Ordinal);
    }
}
