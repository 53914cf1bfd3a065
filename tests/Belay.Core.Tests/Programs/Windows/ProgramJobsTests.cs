using Belay.Core.Programs.Windows;

namespace Belay.Core.Tests.Programs.Windows;

/// <summary>The Win32 call sequences of starting, stopping and ending a program on Windows, through a fake that records them.</summary>
public sealed class ProgramJobsTests
{
    private readonly FakeProcessApi _api = new();

    private static JobStart Start(bool separateStderr = true) =>
        new(@"C:\app\app.exe serve", @"C:\app", ProgramJobs.EnvironmentBlock([new("B", "2"), new("a", "1")]), separateStderr);

    [Fact]
    public void A_program_starts_suspended_in_a_new_group_inside_a_kill_on_close_job_that_denies_breakaway_and_only_then_runs()
    {
        var program = new ProgramJobs(_api).Start(Start(), "belay-1-1");

        Assert.Equal(
        [
            "CreateJob -> 100",
            "SetJobLimits 100 0x2000", // KILL_ON_JOB_CLOSE alone: no BREAKAWAY_OK, no SILENT_BREAKAWAY_OK
            "CreateInboundPipe belay-1-1-out -> 101",
            "OpenPipeForWriting belay-1-1-out -> 102",
            "CreateInboundPipe belay-1-1-err -> 103",
            "OpenPipeForWriting belay-1-1-err -> 104",
            "OpenNul -> 105",
            // CREATE_SUSPENDED | CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW | CREATE_BREAKAWAY_FROM_JOB (out of the agent's own job)
            @"CreateProcess C:\app\app.exe serve flags 0x09000204 dir C:\app in 105 out 102 err 104 -> process 106 thread 107 pid 4242",
            "AssignToJob 100 106",
            "ResumeThread 107",
            "CloseHandle 107",
            "CloseHandle 102",
            "CloseHandle 104",
            "CloseHandle 105",
        ], _api.Calls);
        Assert.Equal(new JobProgram(4242, 777, 100, 106, 101, 103), program);
        Assert.Equal("a=1\0B=2\0\0", _api.Environment);
    }

    [Fact]
    public void Stdout_and_stderr_share_one_pipe_when_stderr_goes_into_the_log()
    {
        var program = new ProgramJobs(_api).Start(Start(separateStderr: false), "p");
        Assert.Contains(_api.Calls, c => c.StartsWith("CreateProcess", StringComparison.Ordinal) && c.Contains("out 102 err 102", StringComparison.Ordinal));
        Assert.Equal(0, program.Stderr);
        Assert.DoesNotContain(_api.Calls, c => c.Contains("-err", StringComparison.Ordinal));
    }

    [Fact]
    public void A_program_that_cannot_join_its_job_is_terminated_and_nothing_is_left_open()
    {
        _api.FailAssign = true;
        Assert.Throws<WindowsCallException>(() => new ProgramJobs(_api).Start(Start(), "p"));
        Assert.Contains("TerminateProcess 106 1", _api.Calls);
        Assert.Empty(_api.Open);
        Assert.DoesNotContain("ResumeThread 107", _api.Calls);
    }

    [Fact]
    public void A_failed_create_process_closes_the_job_and_the_pipes()
    {
        _api.FailCreate = 2;
        var e = Assert.Throws<WindowsCallException>(() => new ProgramJobs(_api).Start(Start(), "p"));
        Assert.Contains("the file was not found (Windows error 2)", e.Message, StringComparison.Ordinal);
        Assert.Empty(_api.Open);
    }

    [Fact]
    public void Inside_a_job_that_denies_breakaway_the_program_starts_without_asking_for_it()
    {
        _api.DenyBreakaway = true;
        var program = new ProgramJobs(_api).Start(Start(), "p");
        Assert.False(program.BrokeAway);
        Assert.Contains(_api.Calls, c => c.StartsWith("CreateProcess", StringComparison.Ordinal) && c.Contains("flags 0x08000204", StringComparison.Ordinal));
    }

    [Fact]
    public void Ending_a_program_terminates_its_job_and_closing_lets_go_of_the_job_and_the_process()
    {
        var jobs = new ProgramJobs(_api);
        var program = jobs.Start(Start(), "p");
        _api.Calls.Clear();
        Assert.Null(jobs.ExitCode(program));
        jobs.Terminate(program);
        _api.ExitCodes[106] = 1;
        Assert.Equal(1u, jobs.ExitCode(program));
        jobs.Close(program);
        Assert.Equal(["ExitCode 106", "TerminateJob 100 1", "ExitCode 106", "CloseHandle 106", "CloseHandle 100"], _api.Calls);
    }

    [Fact]
    public void A_hand_over_puts_copies_into_the_keeper_and_the_next_agent_takes_them_back_and_leaves_the_keeper_nothing()
    {
        var jobs = new ProgramJobs(_api);
        var program = jobs.Start(Start(), "p");
        var warnings = new List<string>();
        var held = new ProgramHandover(jobs).Hold(900, [new ReclaimedProgram("web", true, program)], warnings.Add);
        Assert.Empty(warnings);
        Assert.Equal(4, _api.Held.Count); // job, process, stdout, stderr
        Assert.Equal(900, held.HolderPid);
        Assert.Equal(555, held.HolderCreationTime);
        Assert.DoesNotContain(_api.Holders, _api.Open.Contains); // the agent let go of the keeper's process handle
        // The old agent exits: its own handles close (the keeper's copies keep the job, so the program runs on).
        jobs.Close(program);
        using var dir = new Belay.TestSupport.TempDir();
        var file = Path.Combine(dir.Path, "held.json");
        held.Save(file);
        var loaded = HeldPrograms.TryLoad(file, out var problem);
        Assert.Null(problem);

        _api.Calls.Clear();
        var forgotten = -1;
        var reclaimed = new ProgramHandover(jobs).Reclaim(loaded!, 900, () => { forgotten = _api.Calls.Count; File.Delete(file); }, warnings.Add);

        Assert.Empty(warnings);
        var (name, separate, taken) = Assert.Single(reclaimed);
        Assert.Equal(("web", true, 4242, 777L), (name, separate, taken.Pid, taken.CreationTime));
        Assert.All(new[] { taken.Job, taken.Process, taken.Stdout, taken.Stderr }, h => Assert.Contains(h, _api.Open));
        Assert.Empty(_api.Held); // the keeper's copies are closed: it holds nothing while an agent runs
        Assert.False(File.Exists(file));
        Assert.True(forgotten >= 0 && _api.Calls.Skip(forgotten).Take(4).All(c => c.StartsWith("TakeBack", StringComparison.Ordinal)), string.Join("\n", _api.Calls));
        Assert.DoesNotContain(_api.Calls.Take(forgotten), c => c.StartsWith("CloseInHolder", StringComparison.Ordinal));
        // A program that ended while no agent ran: its exit code is still there to read.
        _api.ExitCodes[taken.Process] = 3;
        Assert.Equal(3u, jobs.ExitCode(taken));
    }

    [Fact]
    public void Handles_of_another_keeper_are_not_touched_and_the_file_is_forgotten()
    {
        var jobs = new ProgramJobs(_api);
        var program = jobs.Start(Start(), "p");
        var held = new ProgramHandover(jobs).Hold(900, [new ReclaimedProgram("web", false, program)], _ => { });
        var before = _api.Held.ToList();
        var warnings = new List<string>();
        var forgotten = 0;

        // Another keeper process (it restarted): those handles died with the one before.
        Assert.Empty(new ProgramHandover(jobs).Reclaim(held, 901, () => forgotten++, warnings.Add));
        Assert.Contains("handed over to the keeper pid 900, not to this agent's (901)", Assert.Single(warnings), StringComparison.Ordinal);
        // The same pid, started at another time: a keeper that reuses the pid.
        _api.HolderCreated = 556;
        Assert.Empty(new ProgramHandover(jobs).Reclaim(held, 900, () => forgotten++, warnings.Add));
        Assert.Contains("another process than the keeper", warnings[1], StringComparison.Ordinal);

        Assert.Equal(2, forgotten);
        Assert.Equal(before, _api.Held.ToList()); // nothing closed in a process that is not the holder
        Assert.DoesNotContain(_api.Calls, c => c.StartsWith("TakeBack", StringComparison.Ordinal));
    }

    [Fact]
    public void A_held_process_that_is_not_the_recorded_program_is_left_out_and_its_copies_in_the_keeper_closed()
    {
        var jobs = new ProgramJobs(_api);
        var program = jobs.Start(Start(), "p");
        var held = new ProgramHandover(jobs).Hold(900, [new ReclaimedProgram("web", true, program)], _ => { });
        _api.ProgramPid = 5151;
        var warnings = new List<string>();

        Assert.Empty(new ProgramHandover(jobs).Reclaim(held, 900, () => { }, warnings.Add));

        Assert.Contains("cannot take web (pid 4242) back from the keeper", Assert.Single(warnings), StringComparison.Ordinal);
        Assert.Empty(_api.Held);
        var takenBack = _api.Calls.Where(c => c.StartsWith("TakeBack", StringComparison.Ordinal))
            .Select(c => (nint)long.Parse(c[(c.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.NotEmpty(takenBack);
        Assert.DoesNotContain(takenBack, _api.Open.Contains); // this agent's copies are closed too
        Assert.DoesNotContain(_api.Holders, _api.Open.Contains);
    }

    [Fact]
    public void An_environment_variable_windows_cannot_hold_is_refused()
    {
        Assert.Throws<ArgumentException>(() => ProgramJobs.EnvironmentBlock([new("A=B", "1")]));
        Assert.Equal("PATH=x\0\0", ProgramJobs.EnvironmentBlock([new("PATH", "y"), new("Path", "x")]));
    }
}
