using Belay.Core.Deploy;
using Belay.Core.IO;
using Belay.Core.Programs.Windows;
using Belay.Core.Tests.Crash;
using Belay.Core.Tests.Programs.Windows;
using Belay.TestSupport;

namespace Belay.Core.Tests.Deploy;

/// <summary>
/// A hook an earlier agent left running is ended by the next agent from its record (pid and start time); on Windows by
/// the process's creation time, through a fake of the Win32 calls; and the deploy state folder gets an inheritable
/// owner-only ACL on Windows.
/// </summary>
public sealed class LeftHooksTests
{
    private readonly FakeProcessApi _api = new() { HolderCreated = 133_000_000_000_000_000 };

    [Fact]
    public void On_windows_the_recorded_process_is_terminated_when_its_creation_time_matches_and_its_handle_closed()
    {
        Assert.Equal("process 4242", new WindowsLeftHooks(_api).End(4242, 133_000_000_000_000_000));
        Assert.Equal(["OpenProcess 4242 -> 100", "ExitCode 100", "TerminateProcess 100 1", "CloseHandle 100"], _api.Calls);
        Assert.Empty(_api.Open);
    }

    [Fact]
    public void On_windows_another_process_with_the_same_pid_is_left_alone()
    {
        Assert.Null(new WindowsLeftHooks(_api).End(4242, 1));
        Assert.Equal(["OpenProcess 4242 -> 100", "CloseHandle 100"], _api.Calls);
    }

    [Fact]
    public void On_windows_a_hook_that_ended_or_a_pid_that_is_gone_is_nothing_to_do()
    {
        _api.ExitCodes[100] = 0;
        Assert.Null(new WindowsLeftHooks(_api).End(4242, 133_000_000_000_000_000));
        Assert.DoesNotContain(_api.Calls, c => c.StartsWith("TerminateProcess", StringComparison.Ordinal));
        Assert.Empty(_api.Open);

        var gone = new FakeProcessApi { FailOpenProcess = 87 };
        Assert.Null(new WindowsLeftHooks(gone).End(4242, 1));
        Assert.Equal(["OpenProcess 4242 -> error 87"], gone.Calls);
    }

    [Fact]
    public async Task The_runner_ends_each_recorded_hook_at_start_and_forgets_its_record()
    {
        using var scenario = new DeployCrashScenario();
        Directory.CreateDirectory(scenario.Paths.StateDir);
        var record = Path.Combine(scenario.Paths.StateDir, "web.hook");
        HookRecords.Save(record, 4242, 133_000_000_000_000_000);
        var left = new RecordingLeftHooks();
        await using var runner = scenario.NewRunner(leftHooks: left);
        runner.Start();
        Assert.Equal([(4242, 133_000_000_000_000_000L)], left.Ended);
        Assert.False(File.Exists(record));
    }

    [Fact]
    public void A_deploy_state_folder_gets_an_owner_only_acl_that_what_is_written_in_it_inherits()
    {
        Assert.Equal("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", OwnerOnlyAcl.FolderSddl(OwnerOnlyScope.System));
        var security = new FakeFileSecurityApi();
        new OwnerOnlyAcl(security).ApplyToFolder(@"C:\ProgramData\Belay\state\deploy", OwnerOnlyScope.User);
        Assert.Equal($"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;{security.UserSid})", security.Dacls[@"C:\ProgramData\Belay\state\deploy"]);
        Assert.Equal(0, security.Outstanding);
    }

    private sealed class RecordingLeftHooks : ILeftHooks
    {
        public List<(int, long)> Ended { get; } = [];

        public string? End(int pid, long startTime)
        {
            Ended.Add((pid, startTime));
            return $"process {pid}";
        }
    }
}
