using Belay.Core.Install;
using Belay.Core.Services;
using Belay.Core.Services.Windows;
using Belay.TestSupport;

namespace Belay.Core.Tests.Services.Windows;

public sealed class WindowsServiceBackendTests
{
    private const string Exe = @"C:\Program Files\Belay\bin\belay.exe";
    private const string Config = @"C:\ProgramData\Belay\etc\config.json";
    private const string ImagePath = @"""C:\Program Files\Belay\bin\belay.exe"" run --config C:\ProgramData\Belay\etc\config.json --service";
    private const string Description = "Belay keeper: runs, updates and rolls back the Belay agent";

    private static readonly ServiceDefinition Definition = new()
    {
        CommandLine = [Exe, "run", "--config", Config],
        WorkingDirectory = @"C:\ProgramData\Belay",
    };

    private static readonly string[] Configure =
    [
        $"ChangeServiceConfig2(DESCRIPTION, \"{Description}\")",
        "ChangeServiceConfig2(DELAYED_AUTO_START_INFO, True)",
        "ChangeServiceConfig2(FAILURE_ACTIONS, reset=86400s [restart/5000ms, restart/5000ms, restart/5000ms])",
        "ChangeServiceConfig2(FAILURE_ACTIONS_FLAG, True)",
    ];

    private readonly FakeServiceControlManager _scm = new();
    private readonly FakeClock _clock = new();
    private readonly List<TimeSpan> _sleeps = [];

    private WindowsServiceBackend Backend() => new(_scm, _clock, d =>
    {
        _sleeps.Add(d);
        _clock.Advance(d);
    });

    [Fact]
    public void A_fresh_install_creates_the_service_configures_it_and_starts_it()
    {
        Backend().Install(Definition, start: true);

        Assert.Equal(
        [
            "OpenSCManager(CONNECT|CREATE_SERVICE)",
            $"CreateService(Belay, \"Belay keeper\", QUERY_CONFIG|CHANGE_CONFIG|QUERY_STATUS|START|STOP, WIN32_OWN_PROCESS, AUTO_START, ERROR_NORMAL, {ImagePath}, LocalSystem)",
            .. Configure,
            "StartService",
            "CloseServiceHandle(Belay)",
            "CloseServiceHandle(manager)",
        ], _scm.Calls);
        var s = _scm.Services["Belay"];
        Assert.Equal((Scm.AutoStart, true, Description), (s.StartType, s.DelayedAutoStart, s.Description));
        Assert.Equal(0, _scm.OpenHandles);
    }

    [Fact]
    public void Install_without_start_registers_and_starts_nothing()
    {
        Backend().Install(Definition, start: false);

        Assert.DoesNotContain("StartService", _scm.Calls);
        Assert.Equal(Scm.Stopped, _scm.Services["Belay"].State);
    }

    [Fact]
    public void Installing_over_a_running_service_changes_its_config_and_restarts_it()
    {
        var old = _scm.Add("Belay", Scm.Running);
        old.StopStates.Enqueue(Scm.StopPending);
        old.StopStates.Enqueue(Scm.StopPending);
        old.StopStates.Enqueue(Scm.Stopped);

        Backend().Install(Definition, start: true);

        Assert.Equal(
        [
            "OpenSCManager(CONNECT|CREATE_SERVICE)",
            $"CreateService(Belay, \"Belay keeper\", QUERY_CONFIG|CHANGE_CONFIG|QUERY_STATUS|START|STOP, WIN32_OWN_PROCESS, AUTO_START, ERROR_NORMAL, {ImagePath}, LocalSystem)",
            "OpenService(Belay, QUERY_CONFIG|CHANGE_CONFIG|QUERY_STATUS|START|STOP)",
            $"ChangeServiceConfig(WIN32_OWN_PROCESS, AUTO_START, ERROR_NORMAL, {ImagePath}, unchanged, \"Belay keeper\")",
            .. Configure,
            "ControlService(STOP)",
            "QueryServiceStatusEx -> stop pending",
            "QueryServiceStatusEx -> stopped",
            "StartService",
            "CloseServiceHandle(Belay)",
            "CloseServiceHandle(manager)",
        ], _scm.Calls);
        Assert.Equal(ImagePath, old.ImagePath);
        Assert.Equal(Scm.AutoStart, old.StartType);
        Assert.Equal(Scm.StartPending, old.State);
        Assert.Equal([WindowsServiceBackend.PollInterval, WindowsServiceBackend.PollInterval], _sleeps);
    }

    [Fact]
    public void Installing_over_a_stopped_service_with_start_just_starts_it()
    {
        _scm.Add("Belay", Scm.Stopped);

        Backend().Install(Definition, start: true);

        Assert.Equal(["ControlService(STOP)", "StartService", "CloseServiceHandle(Belay)", "CloseServiceHandle(manager)"], _scm.Calls[^4..]);
        Assert.Empty(_sleeps);
    }

    [Fact]
    public void Uninstall_stops_a_running_service_waits_for_it_and_deletes_it()
    {
        var s = _scm.Add("Belay", Scm.Running);
        s.StopStates.Enqueue(Scm.StopPending);
        s.StopStates.Enqueue(Scm.Stopped);

        Assert.True(Backend().Uninstall(Definition));

        Assert.Equal(
        [
            "OpenSCManager(CONNECT)",
            "OpenService(Belay, QUERY_STATUS|STOP|DELETE)",
            "ControlService(STOP)",
            "QueryServiceStatusEx -> stopped",
            "DeleteService",
            "CloseServiceHandle(Belay)",
            "CloseServiceHandle(manager)",
        ], _scm.Calls);
        Assert.Empty(_scm.Services);
        Assert.Equal(0, _scm.OpenHandles);
    }

    [Fact]
    public void Uninstall_of_a_stopped_service_deletes_it_without_waiting()
    {
        _scm.Add("Belay", Scm.Stopped);

        Assert.True(Backend().Uninstall(Definition));

        Assert.Equal(
        [
            "OpenSCManager(CONNECT)",
            "OpenService(Belay, QUERY_STATUS|STOP|DELETE)",
            "ControlService(STOP)",
            "DeleteService",
            "CloseServiceHandle(Belay)",
            "CloseServiceHandle(manager)",
        ], _scm.Calls);
        Assert.Empty(_sleeps);
    }

    [Fact]
    public void Uninstall_when_not_installed_returns_false()
    {
        Assert.False(Backend().Uninstall(Definition));

        Assert.Equal(["OpenSCManager(CONNECT)", "OpenService(Belay, QUERY_STATUS|STOP|DELETE)", "CloseServiceHandle(manager)"], _scm.Calls);
    }

    [Fact]
    public void A_service_that_does_not_stop_in_time_is_not_deleted_and_the_message_says_how_to_end_it()
    {
        var s = _scm.Add("Belay", Scm.Running);
        for (var i = 0; i < 1000; i++)
        {
            s.StopStates.Enqueue(Scm.StopPending);
        }

        var e = Assert.Throws<BelayException>(() => Backend().Uninstall(Definition with { StopTimeoutSeconds = 3 }));

        Assert.Contains("did not stop within 3 s", e.Message, StringComparison.Ordinal);
        Assert.Contains("taskkill /pid 4242", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("DeleteService", _scm.Calls);
        Assert.Equal(12, _sleeps.Count); // 3 s in steps of 250 ms, no real sleep
        Assert.Equal(0, _scm.OpenHandles);
    }

    [Theory]
    [InlineData("start")]
    [InlineData("stop")]
    [InlineData("restart")]
    public void Start_stop_and_restart_of_a_missing_service_say_it_is_not_installed(string operation)
    {
        var backend = Backend();
        Action act = operation switch
        {
            "start" => () => backend.Start(Definition),
            "stop" => () => backend.Stop(Definition),
            _ => () => backend.Restart(Definition),
        };

        var e = Assert.Throws<ServiceControlException>(act);

        Assert.Equal(Scm.ErrorServiceDoesNotExist, e.Error);
        Assert.Equal(ExitCodes.Error, e.ExitCode);
        Assert.Contains("Windows service Belay is not installed", e.Message, StringComparison.Ordinal);
        Assert.Equal("CloseServiceHandle(manager)", _scm.Calls[^1]);
        Assert.Equal(0, _scm.OpenHandles);
    }

    [Fact]
    public void Start_of_a_running_service_is_fine_and_stop_of_a_stopped_one_too()
    {
        _scm.Add("Belay", Scm.Running);
        Backend().Start(Definition);
        _scm.Services["Belay"].State = Scm.Stopped;
        Backend().Stop(Definition);

        Assert.Equal(
        [
            "OpenSCManager(CONNECT)", "OpenService(Belay, QUERY_STATUS|START)", "StartService", "CloseServiceHandle(Belay)", "CloseServiceHandle(manager)",
            "OpenSCManager(CONNECT)", "OpenService(Belay, QUERY_STATUS|STOP)", "ControlService(STOP)", "CloseServiceHandle(Belay)", "CloseServiceHandle(manager)",
        ], _scm.Calls);
    }

    [Fact]
    public void Restart_stops_waits_and_starts()
    {
        var s = _scm.Add("Belay", Scm.Running);
        s.StopStates.Enqueue(Scm.StopPending);
        s.StopStates.Enqueue(Scm.Stopped);

        Backend().Restart(Definition);

        Assert.Equal(
        [
            "OpenSCManager(CONNECT)", "OpenService(Belay, QUERY_STATUS|START|STOP)", "ControlService(STOP)", "QueryServiceStatusEx -> stopped",
            "StartService", "CloseServiceHandle(Belay)", "CloseServiceHandle(manager)",
        ], _scm.Calls);
    }

    [Fact]
    public void Access_denied_on_the_manager_needs_privileges_and_says_what_to_do()
    {
        _scm.Elevated = false;

        var e = Assert.Throws<ServiceControlException>(() => Backend().Install(Definition, start: true));

        Assert.Equal(ExitCodes.NeedsPrivileges, e.ExitCode);
        Assert.Equal(Scm.ErrorAccessDenied, e.Error);
        Assert.Contains("elevated prompt (Run as administrator) or use --scope user", e.Message, StringComparison.Ordinal);
        Assert.Equal(["OpenSCManager(CONNECT|CREATE_SERVICE)"], _scm.Calls);
    }

    [Fact]
    public void Status_reads_the_state_without_needing_privileges()
    {
        _scm.Elevated = false;
        Assert.Equal(new ServiceStatus(false, false, "not installed", "no Windows service Belay (sc query Belay)"), Backend().Status(Definition));

        _scm.Add("Belay", Scm.Running);
        var running = Backend().Status(Definition);
        Assert.Equal((true, true, "running"), (running.Installed, running.Running, running.State));
        Assert.Contains("pid 4242", running.Detail, StringComparison.Ordinal);
        Assert.Contains("sc qc Belay", running.Detail, StringComparison.Ordinal);

        _scm.Services["Belay"].State = Scm.StopPending;
        Assert.Equal((true, false, "stop pending"), (Backend().Status(Definition).Installed, Backend().Status(Definition).Running, Backend().Status(Definition).State));
        Assert.Equal(0, _scm.OpenHandles);
    }

    [Fact]
    public void A_user_scope_definition_is_refused_before_any_call()
    {
        var e = Assert.Throws<BelayException>(() => Backend().Install(Definition with { Scope = InstallScope.User }, start: true));

        Assert.Equal(ExitCodes.Usage, e.ExitCode);
        Assert.Contains("--scope user --service-manager none", e.Message, StringComparison.Ordinal);
        Assert.Empty(_scm.Calls);
    }

    [Fact]
    public void Recovery_restarts_three_times_after_the_delay_resets_after_a_day_and_counts_non_crash_failures()
    {
        Backend().Install(Definition with { RestartDelaySeconds = 7 }, start: false);

        var s = _scm.Services["Belay"];
        Assert.Equal(86400u, s.FailureActions!.ResetPeriodSeconds);
        Assert.Equal(
            [new FailureAction(Scm.ActionRestart, 7000), new FailureAction(Scm.ActionRestart, 7000), new FailureAction(Scm.ActionRestart, 7000)],
            s.FailureActions.Actions);
        Assert.True(s.FailureActionsOnNonCrash);
    }

    [Fact]
    public void Restart_policy_never_removes_the_recovery_actions()
    {
        Backend().Install(Definition with { Restart = RestartPolicy.Never }, start: false);

        var s = _scm.Services["Belay"];
        Assert.Empty(s.FailureActions!.Actions);
        Assert.False(s.FailureActionsOnNonCrash);
    }

    [Fact]
    public void The_image_path_quotes_the_executable_and_adds_the_service_flag_once()
    {
        Assert.Equal(ImagePath, WindowsServiceBackend.ImagePath(Definition));
        Assert.Equal(ImagePath, WindowsServiceBackend.ImagePath(Definition with { CommandLine = [.. Definition.CommandLine, "--service"] }));
    }

    [Theory]
    [InlineData(@"C:\ProgramData\Belay\etc\config.json", @"C:\ProgramData\Belay\etc\config.json")]
    [InlineData(@"C:\Users\Jo Smith\belay\config.json", @"""C:\Users\Jo Smith\belay\config.json""")]
    [InlineData("", @"""""")]
    [InlineData(@"say ""hi""", @"""say \""hi\""""")]
    [InlineData(@"C:\dir with space\", @"""C:\dir with space\\""")]
    [InlineData(@"a\\""b", @"""a\\\\\""b""")]
    [InlineData(@"back\slash", @"back\slash")]
    [InlineData("tab\there", "\"tab\there\"")]
    public void Arguments_are_quoted_by_the_windows_rules_and_read_back_the_same(string argument, string written)
    {
        string[] line = [Exe, "run", argument];

        var joined = WindowsCommandLine.Join(line);

        Assert.Equal($"\"{Exe}\" run {written}", joined);
        Assert.Equal(line, WindowsCommandLine.Split(joined));
    }

    [Fact]
    public void An_executable_path_that_cannot_be_quoted_is_refused()
    {
        Assert.Throws<ArgumentException>(() => WindowsCommandLine.Join([@"C:\a""b\belay.exe"]));
    }

    [Fact]
    public void The_scm_name_is_Belay_for_the_default_model_and_the_models_name_otherwise()
    {
        Assert.Equal("Belay", WindowsServiceBackend.ServiceName(Definition));
        Assert.Equal("BelayTest", WindowsServiceBackend.ServiceName(Definition with { Name = "BelayTest" }));
        Assert.Throws<ArgumentException>(() => WindowsServiceBackend.ServiceName(Definition with { Name = "application/belay/agent" }));
    }

    [Theory]
    [InlineData(Scm.ErrorServiceExists, "already exists")]
    [InlineData(Scm.ErrorServiceDoesNotExist, "is not installed")]
    [InlineData(Scm.ErrorServiceAlreadyRunning, "is already running")]
    [InlineData(Scm.ErrorServiceNotActive, "is not running")]
    [InlineData(Scm.ErrorServiceMarkedForDelete, "marked for deletion")]
    [InlineData(1234, "Win32 error 1234")]
    public void Win32_errors_become_messages_that_say_what_happened(int error, string says)
    {
        var e = ServiceControlException.For(error, "OpenService", "Belay");

        Assert.Contains(says, e.Message, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Error, e.ExitCode);
        Assert.Equal(error, e.Error);
    }

    [Fact]
    public void A_service_marked_for_deletion_cannot_be_recreated_and_the_message_says_why()
    {
        _scm.Elevated = true;
        var e = ServiceControlException.For(Scm.ErrorServiceMarkedForDelete, "CreateService", "Belay");

        Assert.Contains("close them, or restart Windows", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Registering_with_every_manager_reaches_the_one_that_did_not_know_the_service()
    {
        // InstallServices went to the first; the second services.exe read its list before that.
        var first = new FakeServiceControlManager();
        first.Add("Belay");
        var second = new FakeServiceControlManager();
        var backend = new WindowsServiceBackend(new ManagersInTurn(first, second), _clock, _ => { });

        Assert.Equal(1, backend.RegisterWithEveryManager(Definition));

        foreach (var scm in new[] { first, second })
        {
            Assert.Equal(ImagePath, scm.Services["Belay"].ImagePath);
            Assert.Equal(Scm.Stopped, scm.Services["Belay"].State); // registered, not started: StartServices does that
            Assert.Equal(0, scm.OpenHandles);
        }
        Assert.Contains(second.Calls, c => c.StartsWith("CreateService(Belay", StringComparison.Ordinal));
    }

    [Fact]
    public void Registering_with_every_manager_where_one_answers_registers_nothing_more()
    {
        _scm.Add("Belay");

        Assert.Equal(0, Backend().RegisterWithEveryManager(Definition));

        Assert.Equal(WindowsServiceBackend.KnownInARow, _scm.Calls.Count(c => c.StartsWith("OpenSCManager", StringComparison.Ordinal)));
        Assert.Equal(ImagePath, _scm.Services["Belay"].ImagePath); // its configuration set again, as Install does
        Assert.Equal(0, _scm.OpenHandles);
    }
}
